-- Shared by the scripts that keep per-thread state (load it with dofile from
-- the repository root, as bench/run.sh runs wrk): numbers the threads from 1
-- (the global `index` in each) and sums a per-thread counter at the end.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end
function sum_over_threads(name)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get(name)
  end
  return total
end
