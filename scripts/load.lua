-- wrk script of scripts/load.sh: mixed hits and misses over 16 variants and 2 originals.
-- `LOAD_ONE` (any value) asks for one variant only: the single-flight phase.
local paths = {}
if os.getenv("LOAD_ONE") then
  paths = { { "/image/chelsea.jpg?d=300", "image/jpeg" } }
else
  for _, img in ipairs({ "coffee.jpg", "chelsea.jpg" }) do
    for _, d in ipairs({ "100", "200", "300", "640x480" }) do
      for _, accept in ipairs({ "image/jpeg", "image/webp" }) do
        table.insert(paths, { "/image/" .. img .. "?d=" .. d, accept })
      end
    end
    table.insert(paths, { "/image/" .. img, "*/*" })
  end
end

local i = 0
request = function()
  i = i + 1
  local p = paths[(i % #paths) + 1]
  return wrk.format("GET", p[1], { ["Accept"] = p[2] })
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.2f,"p50_ms":%.2f,"p99_ms":%.2f,"socket_errors":%d,"bad_status":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
