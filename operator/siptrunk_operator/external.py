"""The seam to the API, after crossplane-runtime's ExternalClient: observe / create / update / delete.

`TrunkExternal` is what the loop needs; `ListedTrunks` implements it with the REST client behind
the shared listing, so observing is cache-first. Errors leave here as typed `ApiError`s carrying the
action that failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from siptrunk_operator.api import ApiError, NotFound, RetryHook
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan.actions import Observation, ObserveMode, Unobservable
from siptrunk_operator.plan.errors import ApiAction
from siptrunk_operator.refresher import CachedTrunk, TrunkLister, TrunkRefresher, utc_now


class TrunkClient(TrunkLister, Protocol):
    """The REST calls behind the seam (SipTrunksClient; fakes in tests)."""

    async def get(self, name: str) -> SipTrunk: ...

    async def create(self, project: str, location: str, trunk: SipTrunk, *, deadline: float | None = None,
                     on_retry: RetryHook | None = None) -> SipTrunk: ...

    async def patch(self, trunk: SipTrunk, update_mask: Sequence[str], *,
                    on_retry: RetryHook | None = None) -> SipTrunk: ...

    async def delete(self, name: str, *, on_retry: RetryHook | None = None) -> None: ...

    async def aclose(self) -> None: ...


class TrunkExternal(Protocol):
    """The writes take `on_retry`, called (with the error carrying its action) before the client
    retries: the loop reports a failing write while it still retries."""

    async def observe(self, name: str, mode: ObserveMode) -> Observation | Unobservable: ...

    async def list_parent(self, project: str, location: str, *, started_after: float) -> tuple[SipTrunk, ...]: ...

    async def create(self, project: str, location: str, trunk: SipTrunk, *, deadline: float,
                     on_retry: RetryHook | None = None) -> SipTrunk:
        """`deadline` (monotonic) is hard: see SipTrunksClient.create."""
        ...

    async def update(self, trunk: SipTrunk, mask: Sequence[str], *, on_retry: RetryHook | None = None) -> SipTrunk: ...

    async def delete(self, name: str, *, on_retry: RetryHook | None = None) -> bool:
        """True if the trunk was deleted, False if it was already gone."""
        ...

    def watch(self, name: str) -> None: ...

    def forget(self, name: str) -> None: ...


@asynccontextmanager
async def _acting(action: ApiAction) -> AsyncIterator[None]:
    try:
        yield
    except ApiError as err:
        err.action = str(action)
        raise


def _labelled(action: ApiAction, hook: RetryHook | None) -> RetryHook | None:
    if hook is None:
        return None

    async def report(err: ApiError, delay: float) -> None:
        err.action = str(action)
        await hook(err, delay)

    return report


class ListedTrunks:
    """TrunkExternal over the REST client and the shared listing."""

    def __init__(self, client: TrunkClient, refresher: TrunkRefresher) -> None:
        self.client, self.refresher = client, refresher

    async def observe(self, name: str, mode: ObserveMode) -> Observation | Unobservable:
        cached = self.refresher.lookup(name)
        if isinstance(cached, CachedTrunk) and cached.trunk is not None:
            return Observation(name, cached.trunk, cached.observed_at, from_cache=True)
        if mode is ObserveMode.CACHE_ONLY and not isinstance(cached, CachedTrunk):
            return Unobservable(cached)
        # Not in a fresh listing (gone, or made after it started), or a change to apply: ask the API.
        observed_at = utc_now()
        try:
            async with _acting(ApiAction.GET):
                trunk = await self.client.get(name)
        except NotFound:
            return Observation(name, None, observed_at)
        self.refresher.record(trunk)
        return Observation(name, trunk, observed_at)

    async def list_parent(self, project: str, location: str, *, started_after: float) -> tuple[SipTrunk, ...]:
        async with _acting(ApiAction.LIST):
            return await self.refresher.listing(project, location, started_after=started_after)

    async def create(self, project: str, location: str, trunk: SipTrunk, *, deadline: float,
                     on_retry: RetryHook | None = None) -> SipTrunk:
        hook = _labelled(ApiAction.CREATE, on_retry)
        return await self._written(ApiAction.CREATE, self.client.create(project, location, trunk, deadline=deadline,
                                                                        on_retry=hook))

    async def update(self, trunk: SipTrunk, mask: Sequence[str], *, on_retry: RetryHook | None = None) -> SipTrunk:
        hook = _labelled(ApiAction.UPDATE, on_retry)
        return await self._written(ApiAction.UPDATE, self.client.patch(trunk, mask, on_retry=hook))

    async def _written(self, action: ApiAction, call: Awaitable[SipTrunk]) -> SipTrunk:
        async with _acting(action):
            trunk = await call
        self.refresher.record(trunk)
        return trunk

    async def delete(self, name: str, *, on_retry: RetryHook | None = None) -> bool:
        try:
            async with _acting(ApiAction.DELETE):
                await self.client.delete(name, on_retry=_labelled(ApiAction.DELETE, on_retry))
        except NotFound:
            return False
        return True

    def watch(self, name: str) -> None:
        self.refresher.watch(name)

    def forget(self, name: str) -> None:
        self.refresher.forget(name)
