-- wrk script: POST the same body each time (a V2 request with binary tensors).
-- Arguments (after the URL): the file holding the body, then header lines "name: value".
function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
  end
end
