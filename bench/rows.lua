-- wrk script: POST one row of 20 features as JSON, a different row each request (4,096 rows
-- drawn once, uniform in [-2, 2]): tree engines walk the same path for a repeated row, which
-- the CPU's branch predictor learns, so one fixed row flatters them.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(1)
local bodies = {}
for i = 1, 4096 do
  local values = {}
  for j = 1, 20 do
    values[j] = string.format("%.4f", math.random() * 4 - 2)
  end
  bodies[i] = '{"features": [' .. table.concat(values, ", ") .. ']}'
end
local sent = 0
request = function()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[sent % 4096 + 1])
end
