-- tcp.lua: mp.tcp against a real nats-server (INFO, CONNECT, PING/PONG,
-- SUB/PUB/MSG between two connections) and against tests/fixtures/tcpfix.c
-- for the edges: a line split across reads and a delimiter split between
-- two writes, bytes counted across reads, timeouts that bound the whole
-- call and lose nothing, a peer that closes mid-line, a huge line against
-- the size limit, a connect that times out or is refused, raise = false,
-- cancellation, <close> and misuse.

local mp = require "mpod"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

local BIN = (os.getenv("BUILD") or "build") .. "/fixtures/tcpfix"

local fix = {}

mp.before_all(function()
  local p, stdin, stdout = proc.spawn { argv = { BIN }, stdin = "pipe", stdout = "pipe" }
  fix.proc, fix.stdin = p, stdin
  for _ = 1, 2 do
    local line = assert(stdout:read_line(10), "tcpfix printed no port")
    local key, port = line:match("^([%u_]+) (%d+)$")
    fix[key:lower()] = tonumber(port)
  end
end)

mp.after_all(function()
  fix.stdin:close()
  fix.proc:wait(5)
end)

-- play(command [, opts]) -> a connection to the fixture playing command
local function play(command, opts)
  local conn = mp.tcp.connect("127.0.0.1", fix.port, opts)
  conn:send(command .. "\n")
  return conn
end

-- NATS ------------------------------------------------------------------------

local function start_nats()
  local port = sys.free_port()
  local p = proc.spawn { argv = { "nats-server", "-a", "127.0.0.1", "-p", tostring(port) },
                         stdout = "null", stderr = "null" }
  local conn = mp.poll_until(function()
    return mp.tcp.connect("127.0.0.1", port, { timeout = 1, raise = false })
  end, { timeout = 10, interval = 0.05, label = "nats-server accepts" })
  return p, port, conn
end

-- hello(conn) -> the INFO the server sent, once CONNECT and PING got PONG
local function hello(conn)
  local info = conn:receive_until("\r\n", 5)
  mp.expect(info):matches("^INFO {")
  conn:send('CONNECT {"verbose":false,"pedantic":false,"name":"mpod-lua"}\r\nPING\r\n')
  mp.expect(conn:receive_until("\r\n", 5)):eq("PONG")
  return mp.json.decode(info:sub(6))
end

mp.test("speaks NATS to nats-server: INFO, CONNECT, PING/PONG, SUB, PUB and MSG", function()
  local server, port, sub = start_nats()
  local ok, err = pcall(function()
    local info = hello(sub)
    mp.expect(info):matches { port = port, server_id = mp.pattern("^N") }
    sub:send("SUB mpod.test 7\r\nPING\r\n")
    mp.expect(sub:receive_until("\r\n")):eq("PONG")      -- the SUB is in place
    local got = mp.spawn(function()
      local head = sub:receive_until("\r\n", 5)
      local subject, sid, size = head:match("^MSG (%S+) (%d+) (%d+)$")
      mp.expect(subject):eq("mpod.test")
      mp.expect(sid):eq("7")
      local payload = sub:receive(tonumber(size) + 2, 5)
      return payload:sub(1, -3), payload:sub(-2)
    end)
    local pub <close> = mp.tcp.connect("127.0.0.1:" .. port)
    hello(pub)
    pub:send("PUB mpod.test 11\r\nhello\r\nnats\r\n")
    local payload, tail = got:wait(5)
    mp.expect(payload):eq("hello\r\nnats")             -- a payload may hold the delimiter
    mp.expect(tail):eq("\r\n")
  end)
  sub:close()
  server:kill("TERM")
  server:wait(5)
  if not ok then error(err, 0) end
  -- the server is gone: connecting is refused
  local conn, why = mp.tcp.connect("127.0.0.1", port, { raise = false })
  mp.expect(conn):is_nil()
  mp.expect(why):matches { kind = "connect", host = "127.0.0.1", port = port,
                           message = mp.pattern("^tcp connect to 127%.0%.0%.1:%d+: Connection refused$") }
end)

-- Reading ---------------------------------------------------------------------

mp.test("a line split across reads, a delimiter split between writes", function()
  local conn <close> = play("split")
  mp.expect(conn:receive_until("\r\n", 5)):eq("hello world")
  mp.expect(conn:receive_until("\r\n", 5)):eq("next")
  local err = mp.expect(function() conn:receive_until("\r\n", 5) end):raises("closed")
  mp.expect(err):matches { partial = "tail", host = "127.0.0.1", port = fix.port }
  mp.expect(err.message):eq('tcp 127.0.0.1:' .. fix.port ..
    ': the peer closed the connection before "\\r\\n" (4 bytes received before it)')
end)

mp.test("receive(n) gathers exactly n bytes across reads; the rest stays for the next call", function()
  local conn <close> = play("split")
  mp.expect(conn:receive(3, 5)):eq("hel")
  mp.expect(conn:receive(9, 5)):eq("lo world\r")
  mp.expect(conn:receive_until("\r\n", 5)):eq("\nnext")
  mp.expect(conn:receive(0)):eq("")
  local err = mp.expect(function() conn:receive(10, 5) end):raises { kind = "closed" }
  mp.expect(err.partial):eq("tail")
end)

mp.test("echo: what is sent comes back, line by line and byte by byte", function()
  local conn <close> = play("echo")
  conn:send("one\ntwo\n"):send("three")
  mp.expect(conn:receive_until("\n")):eq("one")
  mp.expect(conn:receive_until("\n")):eq("two")
  mp.expect(conn:receive(5)):eq("three")
  local big = string.rep("0123456789", 100000)       -- a megabyte, more than a socket buffer
  local reader = mp.spawn(function() return conn:receive(#big, 10) end)
  conn:send(big)
  mp.expect(reader:wait(10) == big):truthy()
end)

mp.test("a timeout bounds the whole call and loses nothing", function()
  local conn <close> = play("echo")
  conn:send("abc")
  local t0 = mp.now()
  local err = mp.expect(function() conn:receive_until("\n", 0.3) end):raises { kind = "timeout" }
  local took = mp.now() - t0
  mp.expect(took):ge(0.29)
  mp.expect(took):lt(2)
  mp.expect(err):matches { timeout = 0.3, buffered = 3,
    message = "tcp 127.0.0.1:" .. fix.port .. ': no "\\n" within 0.3 s (3 bytes received before it)' }
  conn:send("def\n")
  mp.expect(conn:receive_until("\n")):eq("abcdef")
  -- data arriving every 100 ms does not stretch the deadline
  local trickle <close> = play("split")
  t0 = mp.now()
  mp.expect(function() trickle:receive_until("never", 0.25) end):raises("timeout")
  mp.expect(mp.now() - t0):lt(0.4)
end)

mp.test("a huge line stops at the size limit; the bytes stay readable", function()
  local size = 3 * 1024 * 1024
  local conn <close> = play("bytes " .. size)
  local err = mp.expect(function() conn:receive_until("\n", 10) end):raises { kind = "too_big" }
  mp.expect(err.message):eq("tcp 127.0.0.1:" .. fix.port ..
    ': more than 1048576 bytes arrived before "\\n"')
  -- a larger limit: the whole line is there, only no newline: a timeout
  mp.expect(function() conn:receive_until("\n", { timeout = 0.3, max = 8 * size }) end)
    :raises("timeout")
  mp.expect(#conn:receive(size, 10)):eq(size)
  -- the limit as the connection's default
  local small <close> = play("bytes 100", { max = 10 })
  mp.expect(function() small:receive_until("y", 5) end):raises("more than 10 bytes arrived")
end)

-- Connecting and failures -------------------------------------------------------------

mp.test("a refused connect, an unknown host and a connect that times out", function()
  local dead = sys.free_port()
  local t0 = mp.now()
  local err = mp.expect(function() mp.tcp.connect("127.0.0.1", dead) end):raises { kind = "connect" }
  mp.expect(mp.now() - t0):lt(2)
  mp.expect(err.message):matches("Connection refused")
  mp.expect(function() mp.tcp.connect("no-such-host.invalid", 80) end)
    :raises { kind = "dns", message = "tcp cannot resolve no-such-host.invalid" }
  -- FULL_PORT's queue fills after a connection or two; the next connect waits
  local held, timed_out = {}, nil
  for _ = 1, 8 do
    local conn, why = mp.tcp.connect("127.0.0.1", fix.full_port, { timeout = 0.3, raise = false })
    if not conn then timed_out = why break end
    held[#held + 1] = conn
  end
  for _, c in ipairs(held) do c:close() end
  mp.expect(timed_out):matches { kind = "timeout",
    message = "tcp connect to 127.0.0.1:" .. fix.full_port .. ": no answer within 0.3 s" }
end)

mp.test("raise = false returns nil and the error: per connection and per call", function()
  local conn <close> = play("silent", { raise = false, timeout = 0.2 })
  local data, err = conn:receive_until("\n")
  mp.expect(data):is_nil()
  mp.expect(err.kind):eq("timeout")
  local strict <close> = play("silent", { timeout = 0.2 })
  data, err = strict:receive(4, { raise = false, timeout = 0.1 })
  mp.expect(data):is_nil()
  mp.expect(err):matches { kind = "timeout", timeout = 0.1 }
  mp.expect(function() strict:receive(4) end):raises("timeout")
  local closing <close> = play("close", { raise = false })
  data, err = closing:receive_until("\n")
  mp.expect(err):matches { kind = "closed", partial = "partial" }
end)

mp.test("a task waiting in a receive can be cancelled; the connection stays usable", function()
  local conn <close> = play("echo")
  local t = mp.spawn(function() return conn:receive_until("\n") end)
  mp.sleep(0.05)
  t:cancel("enough")
  mp.expect(function() t:wait(1) end):raises("enough")
  conn:send("after\n")
  mp.expect(conn:receive_until("\n", 5)):eq("after")
end)

mp.test("close and <close> end the connection; misuse raises", function()
  local kept
  do
    local conn <close> = play("echo")
    kept = conn
    mp.expect(tostring(conn)):eq("tcp 127.0.0.1:" .. fix.port .. " (open)")
  end
  mp.expect(tostring(kept)):eq("tcp 127.0.0.1:" .. fix.port .. " (closed)")
  mp.expect(function() kept:send("x") end)
    :raises { kind = "closed", message = "send on a closed connection" }
  kept:close()                                             -- idempotent
  local conn <close> = play("echo")
  mp.expect(function() conn:send(5) end):raises { kind = "usage" }
  mp.expect(function() conn:receive(-1) end):raises { kind = "usage" }
  mp.expect(function() conn:receive_until("") end):raises { kind = "usage" }
  mp.expect(function() conn:receive_until("\n", "soon") end):raises { kind = "usage" }
  mp.expect(function() mp.tcp.connect("127.0.0.1", 70000) end)
    :raises { kind = "usage", message = "70000 is not a port" }
  mp.expect(function() mp.tcp.connect("127.0.0.1", fix.port, { raise = "no" }) end)
    :raises { kind = "usage", message = "raise must be true or false" }
end)
