-- wrk script for bench/load.py: `wrk ... -s bench/load.lua URL -- MODE DATAFILE`.
--
-- MODE "list" cycles through the requests the data file returns (a Lua table of {method, path, headers, body}),
-- each wrk thread starting at its own offset, so that any window of consecutive requests spreads over the
-- simulated learners. MODE "fresh" asks for a new random variant of the card page each time (DATAFILE holds
-- {path = "/cards/slug"}). Every response's status is counted, so that a 2xx that is not the expected one
-- still counts as an error; done() prints one JSON line for the driver to read.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   local data = dofile(args[2])
   statuses = {}
   if mode == "fresh" then
      fresh_path = data.path
      math.randomseed(1000 + id)
      return
   end
   requests = {}
   for i, r in ipairs(data) do
      requests[i] = wrk.format(r[1], r[2], r[3], r[4])
   end
   -- Threads start apart so that two threads do not send the same learner's request at the same moment.
   index = math.floor(#requests * id / 7) % #requests
end

function request()
   if mode == "fresh" then
      return wrk.format("GET", fresh_path .. "?seed=" .. math.random(0, 2147483646))
   end
   index = index % #requests + 1
   return requests[index]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(merged) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, ' ..
      '"socket_errors": %d, "timeouts": %d, "statuses": {%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max, e.connect + e.read + e.write, e.timeout, table.concat(parts, ", ")
   ))
end
