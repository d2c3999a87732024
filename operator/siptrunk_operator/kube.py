"""The few Kubernetes writes that must be confirmed before the operator goes on.

kopf applies handler patches only after a handler returns; the create-in-flight marker and the
recorded trunk name must instead be stored before (or right after) the API call that needs them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from siptrunk_operator.settings import ANNOTATION_PREFIX
from siptrunk_operator.spec import GROUP, PLURAL, VERSION

KUBE_ERRORS = (ApiException, HTTPError)
"""What the kubernetes client raises when the API server refuses or cannot be reached."""

TRUNK_NAME_ANNOTATION = f"{ANNOTATION_PREFIX}/trunk-name"
CREATE_PENDING_ANNOTATION = f"{ANNOTATION_PREFIX}/create-pending"
RESYNC_ANNOTATION = f"{ANNOTATION_PREFIX}/resync-interval-seconds"
CRD_NAME = f"{PLURAL}.{GROUP}"


class KubeWriter:
    """Synchronous kubernetes-client calls, run in a thread so the event loop never blocks."""

    def __init__(self) -> None:
        try:
            k8s_config.load_incluster_config()
        except k8s_config.ConfigException:
            k8s_config.load_kube_config()
        api_client = k8s.ApiClient()
        self._objects = k8s.CustomObjectsApi(api_client)
        self._extensions = k8s.ApiextensionsV1Api(api_client)

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as stored now (None once it is gone): handlers that waited for the per-object
        lock must not act on the snapshot their event carried."""
        try:
            body: dict[str, Any] = await asyncio.to_thread(
                self._objects.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return body

    async def annotate(self, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        """Merge-patch annotations (None removes one); returns once the API server stored them."""
        body: dict[str, Any] = {"metadata": {"annotations": annotations}}
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name, body
        )

    async def crd_is_being_deleted(self) -> bool:
        """True while the SipTrunk CRD itself is being deleted (uninstall): deletions then abandon."""
        try:
            crd = await asyncio.to_thread(self._extensions.read_custom_resource_definition, CRD_NAME)
        except ApiException as err:
            if err.status == 404:
                return True
            raise  # fail closed: without an answer, keep the finalizer rather than delete a trunk
        return bool(crd.metadata and crd.metadata.deletion_timestamp is not None)

    async def release_all(self, finalizer: str) -> tuple[list[dict[str, Any]], int]:
        """Remove `finalizer` from every SipTrunk, leaving their trunks in the API (uninstall).
        Returns the released objects and how many changed under us (to retry).

        While the CRD terminates, discovery hides `patch`, so kopf stops serving SipTrunks and its
        delete handler never runs; the API server still accepts patches, which is what this uses.
        """
        listed = await asyncio.to_thread(self._objects.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        released: list[dict[str, Any]] = []
        contended = 0
        for item in listed.get("items", []):
            meta = item["metadata"]
            finalizers = meta.get("finalizers") or []
            if finalizer not in finalizers:
                continue
            body = {"metadata": {"finalizers": [f for f in finalizers if f != finalizer],
                                 "resourceVersion": meta["resourceVersion"]}}
            try:
                await asyncio.to_thread(self._objects.patch_namespaced_custom_object, GROUP, VERSION,
                                        meta["namespace"], PLURAL, meta["name"], body)
            except ApiException as err:
                if err.status not in (404, 409):
                    raise
                contended += err.status == 409  # changed meanwhile: another pass takes it
                continue
            released.append(item)
        return released, contended
