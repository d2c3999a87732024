"""Every SipTrunk object in the cluster (all namespaces: a trunk may be owned from any of them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from siptrunk_operator.spec import GROUP, PLURAL, VERSION

from .errors import InventoryError
from .progress import Progress

PAGE_SIZE = 500
_RESOURCE = f"{PLURAL}.{GROUP}"


@dataclass(frozen=True)
class ClusterTarget:
    kubeconfig: str | None = None
    """None: ``KUBECONFIG`` or ``~/.kube/config``; inside a pod without either, the pod's account."""
    context: str | None = None


def _api_client(target: ClusterTarget) -> Any:
    try:
        return k8s_config.new_client_from_config(config_file=target.kubeconfig, context=target.context)
    except ConfigException as err:
        if target.kubeconfig is None and target.context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config()
            return k8s.ApiClient()
        raise InventoryError(f"cannot load the kubeconfig: {err}") from None


def _refusal(err: ApiException) -> InventoryError:
    status = f"{err.status} {err.reason}"
    if err.status in (401, 403):
        return InventoryError(f"the cluster refused to list {_RESOURCE} ({status}): audit needs list on {_RESOURCE} "
                              "in all namespaces")
    if err.status == 404:
        return InventoryError(f"the cluster does not serve {_RESOURCE} ({status}): is the SipTrunk CRD installed?")
    return InventoryError(f"listing {_RESOURCE} failed: {status}")


def read_siptrunks(target: ClusterTarget, progress: Progress) -> list[dict[str, Any]]:
    """The bodies of every SipTrunk, paged; an InventoryError when the cluster cannot be read."""
    api = k8s.CustomObjectsApi(_api_client(target))
    items: list[dict[str, Any]] = []
    token: str | None = None
    try:
        while True:
            page = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, limit=PAGE_SIZE, _continue=token)
            items.extend(page.get("items") or [])
            progress.update(f"reading {_RESOURCE}", len(items), unit="objects")
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return items
    except ApiException as err:
        raise _refusal(err) from None
    except urllib3.exceptions.HTTPError as err:
        raise InventoryError(f"cannot reach the cluster: {type(err).__name__}: {err}") from None
    finally:
        progress.finish()
