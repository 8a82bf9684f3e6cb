-- Replays pre-signed deliveries for the load benchmark (bench/run.py writes the corpus).
--
-- The corpus file holds one hex signature per line; delivery i has event id PREFIX .. i (or a scatter
-- of i, below), a body made from the template around that id, and a Stripe-Signature over "TS.body".
-- Every request is a distinct event, so deduplication never short-circuits. With BAD=1 every
-- signature is wrong (a forgery flood).

local corpus = os.getenv("CORPUS")
local prefix = os.getenv("PREFIX") or "evt_"
local ts = os.getenv("TS")
local bad = os.getenv("BAD") == "1"
-- SCATTER=1: the id ends in (i * 2654435761) mod 2^32 instead of i, as run.py's id_number (exact in
-- LuaJIT's doubles for the corpus sizes run.py writes).
local scatter = os.getenv("SCATTER") == "1"
local path = os.getenv("TARGET_PATH") or "/webhooks/stripe"
local head = os.getenv("BODY_HEAD")
local tail = os.getenv("BODY_TAIL")

local sigs = {}
local n = 0

function init(args)
  for line in io.lines(corpus) do
    sigs[#sigs + 1] = line
  end
end

function request()
  n = n + 1
  if n > #sigs then
    n = 1 -- wrapping repeats events; the run is sized so that it does not
  end
  local number = n
  if scatter then
    number = (n * 2654435761) % 4294967296
  end
  local body = head .. prefix .. string.format("%.0f", number) .. tail
  local sig = bad and string.rep("0", 64) or sigs[n]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = "t=" .. ts .. ",v1=" .. sig,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("LAT %d %d %d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
