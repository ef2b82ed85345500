-- Counts responses whose status is not 200 (wrk itself only counts >= 400 and socket errors),
-- so a dashboard run that is silently redirected to the login page shows up as errors.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_ok")
  end
  io.write(string.format("NOT_200 %d\n", total))
end
