"""A loopback Kubernetes control plane (etcd + kube-apiserver) built from Go modules."""
