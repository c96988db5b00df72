-- wrk script: HTTP/1.1 pipelining, TechEmpower style.
-- Every write carries DEPTH copies of the same GET (default 16); wrk counts
-- each response, so req/s stays comparable with the non-pipelined runs.
-- Usage: wrk ... -s bench/pipeline.lua http://127.0.0.1:PORT/path -- 16

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format("GET", wrk.path)
  local copies = {}
  for i = 1, depth do
    copies[i] = one
  end
  batch = table.concat(copies)
end

function request()
  return batch
end
