-- Argo CD health check for dialogflow.siptrunk.dev/SipTrunk.
--
-- Install it as the argocd-cm key `resource.customizations.health.dialogflow.siptrunk.dev_SipTrunk`
-- (deploy/argocd/argocd-cm.yaml carries this script under that key).
--
--   Healthy      Ready=True for the current generation (and none of the Degraded cases below)
--   Degraded     Stalled=True (a person must act: InvalidSpec, PermissionDenied, Conflict, ...),
--                certificates invalid (CertificatesValid=False, or status.certificates Invalid),
--                or every reported connection failed authentication
--   Progressing  everything else: no status yet (creating), a generation not observed yet, transient
--                API errors being retried, drift being reverted, and deletion in progress
--
-- Argo CD sets the live object as the global `obj` and reads the table this script returns. Its Lua
-- sandbox opens only the base and table libraries (no `string`, no `math`), so this script uses
-- neither: only `..`, `tostring`, `ipairs` and `table.concat`.

local hs = {}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, item in ipairs(conditions) do
    if item.type == kind then
      return item
    end
  end
  return nil
end

local function explain(item, fallback)
  if item == nil then
    return fallback
  end
  local text = tostring(item.reason or item.type)
  if item.message ~= nil and item.message ~= "" then
    text = text .. ": " .. tostring(item.message)
  end
  return text
end

local metadata = obj.metadata or {}
local status = obj.status

if metadata.deletionTimestamp ~= nil then
  -- Argo CD itself reports any object with a deletionTimestamp as Progressing ("Pending deletion")
  -- before it runs a custom check; this says the same for tools that run the script directly.
  hs.status = "Progressing"
  hs.message = "Pending deletion: the operator deletes the trunk in the Dialogflow API, then releases the finalizer"
  local stalled = find(status and status.conditions, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    hs.message = hs.message .. " (blocked: " .. explain(stalled, "") .. ")"
  end
  return hs
end

if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (status reflects " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local conditions = status.conditions
local ready = find(conditions, "Ready")
local stalled = find(conditions, "Stalled")
local certificates = find(conditions, "CertificatesValid")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = "Stalled, " .. explain(stalled, "a person must act")
  return hs
end

if (certificates ~= nil and certificates.status == "False") or status.certificates == "Invalid" then
  hs.status = "Degraded"
  hs.message = "Certificates invalid, " .. explain(certificates, "a connection reports a certificate error")
  return hs
end

local connections = status.connections
if connections ~= nil and #connections > 0 then
  local failed = {}
  for _, connection in ipairs(connections) do
    if connection.state == "AUTHENTICATION_FAILED" then
      failed[#failed + 1] = tostring(connection.connectionId or "?")
    end
  end
  if #failed == #connections then
    hs.status = "Degraded"
    hs.message = "Every connection failed authentication: " .. table.concat(failed, ", ")
    return hs
  end
end

if ready ~= nil and ready.status == "True"
    and (ready.observedGeneration == nil or generation == nil or ready.observedGeneration == generation) then
  hs.status = "Healthy"
  hs.message = explain(ready, "Ready")
  if status.connected ~= nil then
    hs.message = hs.message .. " Connections healthy: " .. tostring(status.connected)
  end
  return hs
end

hs.status = "Progressing"
local reconciling = find(conditions, "Reconciling")
if ready ~= nil and ready.status ~= "True" then
  hs.message = explain(ready, "Not ready yet")
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.message = explain(reconciling, "Reconciling")
else
  hs.message = "Not ready yet"
end
return hs
