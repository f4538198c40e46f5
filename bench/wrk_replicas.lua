-- wrk script: bench/wrk_agents.lua's reports, wrk thread i posting to replica i of the ports in
-- $REPLICA_PORTS, so `-t REPLICAS` splits the connections evenly over the replicas, as a Service
-- spreads new connections over its endpoints (bench/replica_ingest.py runs it).
-- usage: REPLICA_PORTS=P0,P1 WRK_AGENTS_LUA=bench/wrk_agents.lua \
--          wrk -t 2 -s bench/wrk_replicas.lua http://127.0.0.1:P0 -- TEMPLATE_DIR AGENTS 2

dofile(assert(os.getenv("WRK_AGENTS_LUA"), "WRK_AGENTS_LUA is not set"))

local ports = {}
for port in string.gmatch(os.getenv("REPLICA_PORTS") or "", "%d+") do
  ports[#ports + 1] = port
end

local agents_setup = setup
local threads_set_up = 0

function setup(thread)
  assert(#ports > 0, "REPLICA_PORTS is empty")
  thread.addr = wrk.lookup("127.0.0.1", ports[threads_set_up % #ports + 1])[1]
  threads_set_up = threads_set_up + 1
  agents_setup(thread)
end
