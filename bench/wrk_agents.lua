-- wrk script: every request is one agent report, as the Go agent sends it.
-- Distinct pod names (two agents per node, like the two DaemonSets), the real payload from the
-- fixtures (bench/payload.py writes the templates), Content-Type: application/json and
-- Connection: close, so wrk opens a new TCP connection per report as the agent does.
-- usage: wrk -t THREADS -s bench/wrk_agents.lua URL -- TEMPLATE_DIR AGENTS THREADS
-- done() prints one line "WRK_RESULT {json}" that bench/stats.py parses.

local thread_count = 0

-- setup() runs in the main Lua state; thread:set() makes a global in that thread's own state.
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

-- Split a template around @NODE@ and @POD@ once, so each request is a few concatenations.
-- Returns the three pieces and whether the node comes first (it does in the agent's JSON).
local function read_template(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  local pod_at = assert(string.find(text, "@POD@", 1, true), "no @POD@ in " .. path)
  local node_at = assert(string.find(text, "@NODE@", 1, true), "no @NODE@ in " .. path)
  local first, first_len, second, second_len = pod_at, 5, node_at, 6
  if node_at < pod_at then
    first, first_len, second, second_len = node_at, 6, pod_at, 5
  end
  return {
    string.sub(text, 1, first - 1),
    string.sub(text, first + first_len, second - 1),
    string.sub(text, second + second_len),
    node_first = node_at < pod_at,
  }
end

function init(args)
  local dir = args[1] or "bench/results"
  agents = tonumber(args[2] or "10000")
  templates = { [0] = read_template(dir .. "/podnet.json"), [1] = read_template(dir .. "/hostnet.json") }
  -- thread i sends agents i, i + threads, i + 2 * threads, ...: no two threads repeat a name
  step = tonumber(args[3] or "1")
  sequence = thread_index
  headers = { ["Content-Type"] = "application/json", ["Connection"] = "close",
              ["User-Agent"] = "Go-http-client/1.1" }
end

function request()
  local index = sequence % agents
  sequence = sequence + step
  local node = string.format("n%05d", math.floor(index / 2))
  local hostnet = index % 2
  local pod = (hostnet == 1 and "netchecker-agent-hostnet-" or "netchecker-agent-") .. node
  local t = templates[hostnet]
  local node_name = "node-" .. node
  local body
  if t.node_first then
    body = t[1] .. node_name .. t[2] .. pod .. t[3]
  else
    body = t[1] .. pod .. t[2] .. node_name .. t[3]
  end
  return wrk.format("POST", "/api/v1/agents/" .. pod, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
