"""delete-503: every object deleted while the project's every call answers 503; objects with
`deletionPolicy: Abandon` must make no DELETE call and keep their trunk, the others end deleted once the
storm stops. out-of-band-delete: every trunk deleted in the emulator behind the operator's back; objects
report `NotFoundInAPI` and are not re-created, unless they set `recreateIfMissing: true`."""

from __future__ import annotations

import asyncio
import re
import time

from .common import Context, classification, create, delete, log_figures, prepare, trunks, unconverged_note
from .figures import condition_state, converged, project_calls, stamp
from .report import ScenarioFigures
from .requestlog import polling


async def delete_503(ctx: Context) -> ScenarioFigures:
    options, control = ctx.options, ctx.env.control
    fleet = await prepare(ctx, "delete-503")
    count = options.delete_objects
    deleting, abandoning = range(0, count, 2), range(1, count, 2)
    names = fleet.names(range(count))
    figures = ScenarioFigures("delete-503", objects=count, minimal=count + len(deleting))
    async with fleet.watch(ctx) as watch, polling(ctx.env.collector):
        await create(ctx, fleet, deleting)
        await create(ctx, fleet, abandoning, deletionPolicy="Abandon")
        await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
        owned = {name: (watch.objects[name].get("status") or {}).get("name") for name in names}
        began = time.time()
        await asyncio.to_thread(control.add_fault, "error", path=re.escape(f"/projects/{fleet.project}/"),
                                status=503)
        try:
            await delete(ctx, fleet, range(count))
            await asyncio.sleep(options.storm_seconds)
            held = [n for n in fleet.names(deleting) if n in watch.objects]
        finally:
            await asyncio.to_thread(control.clear_faults)
        gone = await watch.all_gone(options.converge_timeout, options.stall_seconds)
        synced_false = [n for n in fleet.names(deleting)
                        if any(when >= began and status == "False" for when, status, _ in watch.synced.get(n, []))]
    await log_figures(ctx, fleet, figures)
    abandoned = {owned[n] for n in fleet.names(abandoning)}
    deletes = [e for e in project_calls(ctx.env.collector.entries(), fleet.project) if e["method"] == "DELETE"]
    abandon_deletes = [e for e in deletes if e["path"].split("/", 2)[2] in abandoned]
    left = {t["name"] for t in await trunks(ctx, fleet)}
    figures.orphans = len(left - abandoned)
    figures.unconverged = len(watch.objects)
    figures.converge_s = gone.seconds
    figures.extra = {"abandon_delete_calls": len(abandon_deletes), "abandoned_kept": len(abandoned & left),
                     "held_by_finalizer": len(held), "synced_false_in_storm": f"{len(synced_false)}/{len(deleting)}"}
    if abandon_deletes:
        figures.failures.append(f"{len(abandon_deletes)} DELETE calls for trunks of Abandon objects")
    if abandoned - left:
        figures.failures.append(f"{len(abandoned - left)} trunks of Abandon objects were deleted")
    return figures


async def out_of_band_delete(ctx: Context) -> ScenarioFigures:
    options, control = ctx.options, ctx.env.control
    fleet = await prepare(ctx, "out-of-band-delete")
    count = options.out_of_band_objects
    reporting, recreating = fleet.names(range(0, count, 2)), fleet.names(range(1, count, 2))
    reporting_hosts = {fleet.hostname(i) for i in range(0, count, 2)}
    names = fleet.names(range(count))
    figures = ScenarioFigures("out-of-band-delete", objects=count, minimal=count + len(recreating))
    async with fleet.watch(ctx) as watch, polling(ctx.env.collector):
        await create(ctx, fleet, range(0, count, 2))
        await create(ctx, fleet, range(1, count, 2), recreateIfMissing=True)
        await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
        before = {name: (watch.objects[name].get("status") or {}).get("name") for name in names}
        deleted_at = time.time()
        for trunk in before.values():
            await asyncio.to_thread(control.delete_trunk, str(trunk))

        def settled(name: str) -> bool:
            obj = watch.objects.get(name)
            if obj is None:
                return False
            if name in reporting:
                return condition_state(obj) == ("False", "NotFoundInAPI")
            return converged(obj) and (obj.get("status") or {}).get("name") != before[name]

        waited = await watch.until(lambda: all(settled(n) for n in names), options.converge_timeout,
                                   options.stall_seconds)
        unsettled = [n for n in names if not settled(n)]
        note = unconverged_note(watch, [n for n in unsettled if n in recreating])
        found = await classification(ctx, fleet, watch)
    await log_figures(ctx, fleet, figures)
    recreated = [e for e in project_calls(ctx.env.collector.entries(), fleet.project)
                 if e["method"] == "POST" and stamp(e["time"]) >= deleted_at
                 and set((e.get("body") or {}).get("expectedHostname") or ()) & reporting_hosts]
    figures.duplicates, figures.orphans = found.duplicates, len(found.orphans)
    figures.unconverged = len(unsettled)
    figures.converge_s = waited.seconds
    figures.extra = {"not_found_reported": sum(1 for n in reporting if n not in unsettled),
                     "recreated_opt_in": sum(1 for n in recreating if n not in unsettled),
                     "recreated_without_opt_in": len(recreated), "unconverged_reasons": note}
    if recreated:
        figures.failures.append(f"{len(recreated)} trunks re-created for objects that did not opt in")
    return figures
