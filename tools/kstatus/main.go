// Command kstatus computes the kstatus status (sigs.k8s.io/cli-utils/pkg/kstatus/status) of Kubernetes
// objects, as Flux and other kstatus-based tools do.
//
// It reads one object as JSON on stdin, a JSON array of objects, or a List (an object with "items"),
// and prints one JSON object per input object: {"status": ..., "message": ..., "conditions": [...]}
// (a JSON array of them for an array or a List). It exits 2 on input it cannot read.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

type result struct {
	Kind       string      `json:"kind,omitempty"`
	Name       string      `json:"name,omitempty"`
	Status     string      `json:"status"`
	Message    string      `json:"message"`
	Conditions []condition `json:"conditions"`
}

func compute(object map[string]interface{}) (result, error) {
	u := &unstructured.Unstructured{Object: object}
	res, err := status.Compute(u)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	out := result{Kind: u.GetKind(), Name: u.GetName(), Status: res.Status.String(), Message: res.Message,
		Conditions: []condition{}}
	for _, c := range res.Conditions {
		out.Conditions = append(out.Conditions, condition{Type: string(c.Type), Status: string(c.Status),
			Reason: c.Reason, Message: c.Message})
	}
	return out, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// apimachinery's decoder gives integers as int64, as unstructured accessors (metadata.generation) expect.
	var input interface{}
	if err := utiljson.Unmarshal(data, &input); err != nil {
		fail("stdin is not JSON: %v", err)
	}
	var objects []interface{}
	single := false
	switch v := input.(type) {
	case []interface{}:
		objects = v
	case map[string]interface{}:
		if items, ok := v["items"].([]interface{}); ok {
			objects = items
		} else {
			objects, single = []interface{}{v}, true
		}
	default:
		fail("stdin holds neither an object, a List nor an array")
	}
	results := make([]result, 0, len(objects))
	for i, item := range objects {
		object, ok := item.(map[string]interface{})
		if !ok {
			fail("item %d is not an object", i)
		}
		res, err := compute(object)
		if err != nil {
			fail("%v", err)
		}
		results = append(results, res)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	var output interface{} = results
	if single {
		output = results[0]
	}
	if err := encoder.Encode(output); err != nil {
		fail("writing stdout: %v", err)
	}
}
