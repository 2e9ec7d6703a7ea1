---@meta mpod
-- mpod.meta.lua: LuaLS (lua-language-server) definitions of the scenario API,
-- `local mp = require "mpod"`, for completion, hovers and type checks in an
-- editor. It describes; it does not run: every function body is empty.
-- `make install` puts it in $(PREFIX)/share/mpod-lua/; docs/editor.md says
-- how to point LuaLS (VS Code, Neovim, ...) at it. docs/reference.md is the
-- full reference; tests/lua/meta.lua checks this file against the engine.

-- Values ---------------------------------------------------------------------

---JSON null and SQL NULL: one value per Lua state, distinct from `nil` and
---`""`; `tostring(mp.null)` is `"null"`. Compare with `==`.
---@class mpod.Null: userdata

---A JSON value as `mp.json.decode` returns it and `mp.json.encode` takes it.
---@alias mpod.JsonValue table|string|number|boolean|mpod.Null|nil

---The `kind` of an mpod error value. Transport (HTTP, SSE): connect,
---timeout, reset, dns, tls, url, protocol, too_big, http, memory. Responses:
---status, json. Postgres: sql, connect, connection_lost, timeout, closed,
---usage. Tests: expect, fail, timeout, consistently, cancelled. Programs:
---spawn, timeout, os. Cluster and pods: usage, unsupported, state, start,
---ready, cluster, compose, docker, partition, toxiproxy. Reported by the
---runner for a file: crash, exit, error (a non-mpod value was raised).
---@alias mpod.ErrorKind
---| "cancelled"
---| "check"
---| "closed"
---| "cluster"
---| "compose"
---| "connect"
---| "connection_lost"
---| "consistently"
---| "crash"
---| "dns"
---| "docker"
---| "error"
---| "exit"
---| "expect"
---| "fail"
---| "http"
---| "json"
---| "memory"
---| "os"
---| "partition"
---| "protocol"
---| "ready"
---| "reset"
---| "spawn"
---| "sql"
---| "start"
---| "state"
---| "status"
---| "timeout"
---| "tls"
---| "too_big"
---| "toxiproxy"
---| "unsupported"
---| "url"
---| "usage"

---An error value raised by the engine (metatable `mpod.Error`):
---`tostring(err)` is its message. `pcall` and `mp.expect(fn):raises()` give
---it; a failed test's YAML diagnostics show every field. Which fields are
---set depends on the kind (docs/reference.md#error-kinds).
---@class mpod.Error
---@field kind mpod.ErrorKind what failed, one word
---@field message string one line for humans
---@field at? string `file:line` of the scenario line it came from
---@field got? any matchers (`expect`), `status`: the value seen
---@field expected? any matchers (`expect`), `status`: the value wanted
---@field diff? string `:eq` on two tables: the differing paths, one per line
---@field pod? string HTTP, SSE, `status`: the pod's name
---@field method? string HTTP: the request's method
---@field path? string HTTP, SSE: the request's path; `json` encode: where the bad value is (`$.a[2]`)
---@field url? string HTTP, SSE: the URL
---@field curl_code? integer HTTP, SSE: libcurl's CURLcode
---@field status? integer SSE: the status of a refused stream
---@field body? string `status`, `json`, SSE: the start of the body
---@field data? string `json` from `ev.json`: the start of the event's data
---@field gave_up? boolean SSE: automatic reconnection gave up
---@field attempts? integer SSE: connection attempts; polling: attempts made
---@field arrived? string `s:wait_for`: the events that arrived meanwhile
---@field label? string `poll_until`, `eventually`, `consistently`: what was awaited
---@field elapsed? number polling: seconds it polled
---@field last? string `poll_until`: the last falsy value, printed
---@field last_error? string `poll_until`: the last error an attempt raised
---@field task? string `task:wait`, `wait_all`: the task's name
---@field timeout? number `timeout` errors: the limit, in seconds
---@field position? integer `json`: byte offset; `sql`: character offset into the query
---@field line? integer `json` decode: line (1-based)
---@field column? integer|string `json` decode: column in bytes (1-based); `sql`: the column the server named
---@field sqlstate? string `sql`, `connection_lost`: the SQLSTATE code
---@field severity? string `sql`: ERROR, FATAL, ...
---@field detail? string `sql`
---@field hint? string `sql`
---@field context? string `sql`
---@field schema? string `sql`
---@field table? string `sql`
---@field constraint? string `sql`
---@field query? string `sql`, `timeout` (queries): the statement
---@field cancelled? boolean query `timeout`: the server confirmed the cancel
---@field host? string `connect` (Postgres); `mp.tcp`: the host
---@field port? string|integer `connect` (Postgres, a string); `mp.tcp`: the port (an integer)
---@field partial? string `mp.tcp` `closed`: the bytes that came before the peer's end
---@field buffered? integer `mp.tcp` `timeout`: bytes received and kept for the next receive
---@field max? integer `mp.tcp` `too_big`: the size limit that was passed
---@field dbname? string `connect` (Postgres)
---@field user? string `connect` (Postgres)
---@field dsn? string `connect` (Postgres): the DSN, password masked
---@field stdout? string `mp.exec` timeout: the last 2000 bytes written
---@field stderr? string `mp.exec` timeout: the last 2000 bytes written
---@field service? string `ready`: the service that was not ready
---@field log? string `ready`: the service's last log lines
---@field checker? string `check`: the checker that found the anomaly (`linearizable`, `set`, ...)
---@field ops? string `check`: the ops that prove it, one a line: `index time process type f value`
---@field model? string `check` (linearizable): the model
---@field key? any `check` (linearizable): the key whose ops are not linearizable
---@field placed? integer `check` (linearizable): ops in the longest valid order
---@field total? integer `check` (linearizable): ops of the key
---@field state? string `check` (linearizable): the model's state after that order
---@field placed_last? string `check` (linearizable): the last ops of that order, one a line
---@field lost? any[] `check` (set): acknowledged adds missing from the final read
---@field unexpected? any[] `check` (set): items read that no add put (or a failed one)
---@field duplicated? any[] `check` (set): items read more than once
---@field missing? string `check` (exactly_once): the items never seen
---@field reader? string `check` (monotonic): the reader whose value went back
---@field window? number `check` (read_your_writes): the window allowed

-- The mp table -----------------------------------------------------------------

---The scenario API: `local mp = require "mpod"`.
---@class mpod
---@field version string the engine's version, as `mpod-lua --version` prints it
---@field json mpod.json JSON encode and decode
---@field null mpod.Null JSON null and SQL NULL (the same value as `mp.json.null`)
---@field http mpod.http HTTP and SSE to any URL (loaded on first use)
---@field pg mpod.pg Postgres connections (loaded on first use)
---@field tcp mpod.tcp TCP connections for line protocols (loaded on first use)
---@field check mpod.check checkers of operation histories (loaded on first use)
---@field nemesis mpod.nemesis faults on a seeded schedule: `mp.nemesis{...}`, `mp.nemesis.plan{...}` (docs/history.md)
local mp = {}

---Options of `mp.test`.
---@class mpod.TestOptions
---@field timeout? number seconds the test (with its before_each hooks) may take; default `--test-timeout`, 60
---@field skip? string a reason: reported as skipped, not run
---@field todo? string a reason: runs, but a failure does not fail the run

---Registers a test; `fn` runs after the file has loaded, in order of
---registration, in a task of its own. Only while the file loads.
---@param name string
---@param fn? fun() the body (may be left out with `skip` or `todo`)
---@param opts? mpod.TestOptions
function mp.test(name, fn, opts) end

---Groups tests: `fn` runs at once and registers tests and hooks; names nest
---with ` > `.
---@param name string
---@param fn fun()
function mp.describe(name, fn) end

---Runs once before the first test of its block.
---@param fn fun()
function mp.before_all(fn) end

---Runs once after the last test of its block.
---@param fn fun()
function mp.after_all(fn) end

---Runs before each test of its block and nested blocks, outermost first, in
---the test's task.
---@param fn fun()
function mp.before_each(fn) end

---Runs after each test of its block and nested blocks, innermost first, in
---a task of its own (also after a failure or timeout).
---@param fn fun()
function mp.after_each(fn) end

---A test reported as `ok ... # SKIP reason` and not run. `fn` may be left
---out: `mp.skip(name, reason)`. Default reason "skipped".
---@param name string
---@param fn? fun()|string the body, or the reason
---@param reason? string
function mp.skip(name, fn, reason) end

---A test expected to fail for now: it runs, and its failure does not fail
---the run (`# TODO reason`). `fn` may be left out: `mp.todo(name, reason)`.
---Default reason "not done yet".
---@param name string
---@param fn? fun()|string the body, or the reason
---@param reason? string
function mp.todo(name, fn, reason) end

---This file must run alone (it kills, stops, pauses or isolates pods): with
---`-j N` the runner runs it when nothing else runs. Call it while the file
---loads; inside a test or a hook it raises.
function mp.exclusive() end

---An expectation on `value`; its matchers raise an `expect` error when they
---fail and return the expectation, so they chain.
---@param value any
---@return mpod.Expectation
function mp.expect(value) end

---A pattern value for `:matches{...}` and `:raises{...}`: it matches a
---string in which the Lua pattern `p` is found (a plain string there is
---compared as it is).
---@param p string a Lua pattern
---@return mpod.Pattern
function mp.pattern(p) end

---Fails the test here (kind `fail`).
---@param message any
function mp.fail(message) end

---A comment in this file's report (`# text` in the TAP): the values through
---`tostring`, joined with tabs. `print` does the same.
---@param ... any
function mp.note(...) end

---Monotonic time in seconds.
---@return number
function mp.now() end

---Suspends the calling task for `seconds`; other tasks run meanwhile.
---@param seconds number
function mp.sleep(seconds) end

---Runs `fn(...)` as a new task, concurrently with the caller.
---@param fn fun(...): ...
---@param ... any arguments for `fn`
---@return mpod.Task
function mp.spawn(fn, ...) end

---Waits for every task; returns each one's first result, in order. Raises
---the first failure (in list order) once all have finished; after `timeout`
---seconds raises a `timeout` error.
---@param tasks mpod.Task[]
---@param timeout? number seconds
---@return any[]
function mp.wait_all(tasks, timeout) end

---Options of `mp.poll_until` and `mp.eventually`.
---@class mpod.PollOptions
---@field timeout? number seconds before giving up (default 10)
---@field interval? number seconds between attempts (default 0.1)
---@field label? string what is awaited, for the message (default `function at file:line`)

---Calls `fn` until it returns a truthy value and returns all it returned.
---An error in `fn` counts as "not yet"; an attempt still running at the
---deadline is cancelled. Raises a `timeout` error with `label`, `elapsed`,
---`attempts`, `last` and `last_error`.
---@generic T
---@param fn fun(): T, ...
---@param opts? mpod.PollOptions
---@return T
---@return ...
function mp.poll_until(fn, opts) end

---The same as `mp.poll_until`; only its messages say `eventually`.
---@generic T
---@param fn fun(): T, ...
---@param opts? mpod.PollOptions
---@return T
---@return ...
function mp.eventually(fn, opts) end

---Options of `mp.consistently`.
---@class mpod.ConsistentlyOptions
---@field duration? number seconds the condition must hold (default 1)
---@field interval? number seconds between attempts (default 0.1)
---@field label? string what is checked, for the message

---`fn` must stay truthy for the whole window: raises a `consistently` error
---as soon as it returns a falsy value, raises or overruns; else returns its
---last value.
---@generic T
---@param fn fun(): T
---@param opts? mpod.ConsistentlyOptions
---@return T
function mp.consistently(fn, opts) end

---The run's cluster (from the cluster file). Raises a `usage` error when
---the run has none, saying why.
---@return mpod.Cluster
function mp.cluster() end

---Options of `mp.exec`.
---@class mpod.ExecOptions
---@field timeout? number seconds (default 60); past it the process group is killed and `mp.exec` raises `timeout`
---@field stdin? string written to the program's standard input (else it reads /dev/null)
---@field env? table<string, string> added to the environment
---@field cwd? string the folder to run in

---What `mp.exec` returns. A non-zero exit is a result, not an error.
---@class mpod.ExecResult
---@field code? integer the exit code; nil when a signal ended the program
---@field signal? string the signal's name (`"TERM"`, `"KILL"`), or nil
---@field ok boolean `code == 0`
---@field stdout string everything the program wrote there
---@field stderr string everything the program wrote there
---@field time number seconds it took

---Runs a program without blocking the other tasks. `argv` is a list
---(looked up on PATH) or a string run with `/bin/sh -c`. Raises `spawn`
---when it cannot start, `timeout` past `opts.timeout`. The program, and
---whatever it leaves running, is killed when the scenario file ends.
---@param argv string[]|string
---@param opts? mpod.ExecOptions
---@return mpod.ExecResult
function mp.exec(argv, opts) end

-- Expectations -------------------------------------------------------------------

---What `mp.expect(value)` returns. Every matcher but `raises` returns the
---expectation; a failed one raises an `expect` error with `got`,
---`expected` and `at`.
---@class mpod.Expectation
---@field value any the value under test
local Expectation = {}

---Deeply equal (tables key by key; `1 == 1.0`); on tables the error lists
---each differing path in `diff`.
---@param expected any
---@return mpod.Expectation
function Expectation:eq(expected) end

---Not deeply equal.
---@param other any
---@return mpod.Expectation
function Expectation:ne(other) end

---Neither nil nor false.
---@return mpod.Expectation
function Expectation:truthy() end

---nil or false.
---@return mpod.Expectation
function Expectation:falsy() end

---Exactly nil.
---@return mpod.Expectation
function Expectation:is_nil() end

---`value > other` (two numbers or two strings).
---@param other number|string
---@return mpod.Expectation
function Expectation:gt(other) end

---`value >= other`.
---@param other number|string
---@return mpod.Expectation
function Expectation:ge(other) end

---`value < other`.
---@param other number|string
---@return mpod.Expectation
function Expectation:lt(other) end

---`value <= other`.
---@param other number|string
---@return mpod.Expectation
function Expectation:le(other) end

---A number within `epsilon` (default 1e-9) of `target`.
---@param target number
---@param epsilon? number
---@return mpod.Expectation
function Expectation:near(target, epsilon) end

---A string `want`: the value is a string in which that Lua pattern is
---found. A table: a partial match, every key it gives matching the value's
---recursively (arrays by position, other keys not looked at; leaves by
---`==`, `mp.pattern(p)` by string.find, a function by returning truthy);
---the error's `diff` names each mismatching path (`user.email`).
---An `mp.pattern` or a function alone match the value itself.
---@param want string|table|mpod.Pattern|fun(value: any): any
---@return mpod.Expectation
function Expectation:matches(want) end

---A string containing the plain text `needle`, or a table with a value
---deeply equal to it.
---@param needle any
---@return mpod.Expectation
function Expectation:contains(needle) end

---A table whose `value[key]` is not nil.
---@param key any
---@return mpod.Expectation
function Expectation:has(key) end

---`#value == n`.
---@param n integer
---@return mpod.Expectation
function Expectation:len(n) end

---`type(value) == t`.
---@param t type
---@return mpod.Expectation
function Expectation:type(t) end

---An HTTP response with this status; the error quotes the body's start.
---@param code integer
---@return mpod.Expectation
function Expectation:status(code) end

---The value is a function that raises. Returns the error. `want` a string:
---an error of that `kind`, or whose message contains the plain text; a
---table: the error's fields match it as in `:matches` (a plain string
---`message` need only be contained).
---@param want? string|table
---@return mpod.Error|any err
function Expectation:raises(want) end

---What `mp.pattern(p)` returns. `tostring` gives `mp.pattern("...")`.
---@class mpod.Pattern
---@field pattern string the Lua pattern

-- Tasks ---------------------------------------------------------------------

---A task made by `mp.spawn`. `tostring(task)` is `name (status)`.
---@class mpod.Task
local Task = {}

---Waits for the task and returns its results; re-raises its error. After
---`timeout` seconds raises a `timeout` error and leaves the task running; a
---cancelled task raises `cancelled`.
---@param timeout? number seconds
---@return any ...
function Task:wait(timeout) end

---Stops the task: what it waits for is released at once; it unwinds at the
---caller's next wait and ends `cancelled`.
---@param reason? string
function Task:cancel(reason) end

---@alias mpod.TaskStatus "ready"|"running"|"waiting"|"done"|"failed"|"cancelled"

---@return mpod.TaskStatus
function Task:status() end

---Sets the name (shown in messages) when given; returns the name, by
---default `task#N`.
---@param name? string
---@return string
function Task:name(name) end

-- Cluster, pods, proxies ----------------------------------------------------------

---The run's cluster, from `mp.cluster()`.
---@class mpod.Cluster
---@field name string the cluster file's `name`
---@field backend "process"|"compose"
---@field postgres? string the cluster file's `postgres` DSN
---@field ports table<string, integer> the ports chosen for the cluster file's `${PORT:name}`, by name (empty when it has none)
local Cluster = {}

---The port chosen for `${PORT:name}` when the cluster came up; an unknown
---name raises a `usage` error listing the known ones.
---@param name string
---@return integer
function Cluster:port(name) end

---The pod of that name; an unknown name raises a `usage` error listing the
---known ones.
---@param name string
---@return mpod.Pod
function Cluster:pod(name) end

---The pods (of one group), sorted by name; one-shot services are not pods.
---An empty group raises a `usage` error.
---@param group? string
---@return mpod.Pod[]
function Cluster:pods(group) end

---The Toxiproxy proxy of that name (the cluster file's `proxies`).
---@param name string
---@return mpod.Proxy
function Cluster:proxy(name) end

---Drops the traffic between two sets of pods (lists of pods or names, or a
---group name). Compose backend only (`unsupported` on the process backend).
---@param a mpod.Pod[]|string[]|string
---@param b mpod.Pod[]|string[]|string
---@return true
function Cluster:partition(a, b) end

---Brings everything back now: partitions lifted, isolated pods rejoined,
---paused ones resumed, stopped ones started, proxy faults cleared, and
---readiness awaited. Returns what it did (`"mesh-2 (started)"`, ...).
---@return string[]
function Cluster:heal() end

---A new connection to the cluster file's `postgres` DSN (`mp.pg.connect`
---with `opts`).
---@param opts? mpod.PgConnectOptions
---@return mpod.PgConn|nil db nil (with `raise = false`) when it cannot connect
---@return mpod.Error? err why, then
function Cluster:db(opts) end

---Options of `pod:logs`.
---@class mpod.LogsOptions
---@field since? number an `mp.now()` value: only lines logged since then
---@field tail? integer only the last N lines

---Options of `pod:logs_contain`.
---@class mpod.LogsContainOptions
---@field since? number an `mp.now()` value: only lines logged since then

---What `pod:info()` returns; which fields are set depends on the backend.
---@class mpod.PodInfo
---@field state string as `pod:state()`
---@field pid? integer the service's process id
---@field started_at? number wall-clock seconds since the Unix epoch (a float) of the last start; compare with `os.time()`, not `mp.now()`
---@field exit? string how it exited (`"exit code 0"`, `"killed by SIGKILL"`; for a process-backend pod that another `mpod-lua up` started, `"exit status unknown: ..."` naming the engine's signal), when exited
---@field signal? string process: the last signal the engine sent to end the pod's process (`"KILL"`, `"TERM"`)
---@field ended_at? number process: epoch seconds at which the engine first saw the process gone
---@field container? string compose: the container id
---@field image? string compose: the image
---@field health? string compose: Docker's health status, when there is a healthcheck
---@field isolated? boolean compose: `pod:isolate()` is in force

---One pod of the cluster. `tostring(pod)` is `pod <name>`.
---@class mpod.Pod
---@field name string
---@field group? string
---@field url? string where it answers HTTP; requests prefix it
---@field port? integer the port of `url` (nil when the url names none)
---@field oneshot? boolean a one-shot service (not listed by `c:pods()`)
---@field cluster mpod.Cluster
local Pod = {}

---The request `opts` describes, to `pod.url .. opts.path`, with the cluster
---file's `http.headers` and `http.timeout`. Any status is a response;
---transport failures raise, or return `nil, err` with `raise = false`.
---@param opts mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function Pod:request(opts) end

---@param path string
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function Pod:get(path, opts) end

---@param path string
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function Pod:delete(path, opts) end

---POST with `body` as its JSON (nil: an empty body).
---@param path string
---@param body? mpod.JsonValue
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function Pod:post(path, body, opts) end

---PUT with `body` as its JSON (nil: an empty body).
---@param path string
---@param body? mpod.JsonValue
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function Pod:put(path, body, opts) end

---PATCH with `body` as its JSON (nil: an empty body).
---@param path string
---@param body? mpod.JsonValue
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function Pod:patch(path, body, opts) end

---Opens a Server-Sent Events stream; returns once the pod answered 200
---with `text/event-stream`.
---@param path string
---@param opts? mpod.SseOptions
---@return mpod.SseStream|nil stream nil (with `raise = false`) when it did not open
---@return mpod.Error? err why, then
function Pod:sse(path, opts) end

---Sends a signal (default `"KILL"`, to the whole process group or
---container; returns once it is gone). Other signals go to the service.
---@param signal? string `"KILL"`, `"TERM"`, `"INT"`, `"HUP"`, ...
---@return true
function Pod:kill(signal) end

---`stop_signal` (default TERM) to the service's process group, then KILL to
---what is left of it after `grace` seconds (default the service's
---`stop_timeout`, 10).
---@param grace? number seconds
---@return true
function Pod:stop(grace) end

---Starts it again (nothing when it runs).
---@return true
function Pod:start() end

---Stops, then starts.
---@param grace? number seconds, as for `stop`
---@return true
function Pod:restart(grace) end

---SIGSTOP to its process group (process) or `docker pause` (compose).
---@return true
function Pod:pause() end

---@return true
function Pod:unpause() end

---`"running"`, `"paused"`, `"exited"`, `"created"`, `"external"` (process
---backend, no `cmd`); compose adds `"restarting"`, `"dead"`, `"missing"`.
---@return string
function Pod:state() end

---Cuts it from every network (compose backend; `unsupported` on process).
---@return true
function Pod:isolate() end

---Connects an isolated pod back (compose backend).
---@return true
function Pod:rejoin() end

---Waits for the cluster file's readiness check; raises a `ready` error
---after `timeout` seconds (default the check's `timeout`, 60).
---@param timeout? number seconds
---@return true
function Pod:wait_ready(timeout) end

---@return mpod.PodInfo
function Pod:info() end

---The pod's log (process: captured stdout and stderr; compose: `docker logs`).
---@param opts? mpod.LogsOptions
---@return string
function Pod:logs(opts) end

---True when a log line holds the plain text `needle`.
---@param needle string
---@param opts? mpod.LogsContainOptions
---@return boolean
function Pod:logs_contain(needle, opts) end

---Options of `proxy:latency`.
---@class mpod.LatencyFault
---@field ms? number delay added to data from the upstream (default 1000)
---@field jitter? number +/- milliseconds (default 0)
---@field for_s? number seconds until the runner removes it by itself

---Options of `proxy:timeout`.
---@class mpod.TimeoutFault
---@field ms? number 0 (default): connections hang; > 0: closed after ms
---@field for_s? number seconds until the runner removes it by itself

---Options of `proxy:bandwidth`.
---@class mpod.BandwidthFault
---@field kbps? number KB/s of data from the upstream (default 100)
---@field for_s? number seconds until the runner removes it by itself

---Options of `proxy:reset_peer`.
---@class mpod.ResetPeerFault
---@field ms? number reset after that long (default 0)
---@field for_s? number seconds until the runner removes it by itself

---Options of `proxy:down`.
---@class mpod.DownFault
---@field for_s? number seconds until the runner brings it up again

---Toxiproxy's view of a proxy (its JSON, decoded).
---@class mpod.ProxyInfo
---@field name string
---@field listen string
---@field upstream string
---@field enabled boolean
---@field toxics table[]

---A Toxiproxy proxy of the cluster, from `c:proxy(name)`. Setting a kind of
---fault again replaces it; healing clears them all.
---@class mpod.Proxy
---@field name string
---@field cluster mpod.Cluster
local Proxy = {}

---Data from the upstream arrives late.
---@param opts? mpod.LatencyFault
---@return true
function Proxy:latency(opts) end

---Connections hang (closed after `ms` when > 0).
---@param opts? mpod.TimeoutFault
---@return true
function Proxy:timeout(opts) end

---Data from the upstream is throttled.
---@param opts? mpod.BandwidthFault
---@return true
function Proxy:bandwidth(opts) end

---Connections are reset (after `ms`).
---@param opts? mpod.ResetPeerFault
---@return true
function Proxy:reset_peer(opts) end

---Refuses new connections and cuts the open ones.
---@param opts? mpod.DownFault
---@return true
function Proxy:down(opts) end

---Accepts connections again.
---@return true
function Proxy:up() end

---Every fault of this proxy removed, the proxy up.
---@return true
function Proxy:clear() end

---@return mpod.ProxyInfo
function Proxy:info() end

-- HTTP and SSE -----------------------------------------------------------------

---Options of requests: `pod:request`, `pod:get`, ..., `mp.http.request`.
---@class mpod.RequestOptions
---@field url? string `mp.http.request`: the full URL (required there)
---@field path? string pod requests: the path, with or without a query string (default "/")
---@field method? string default GET, POST when there is a body
---@field query? table<string, string|number|boolean|(string|number)[]>|string keys sorted, lists repeat the key; a string is appended as it is
---@field headers? table<string, string|false> `false` leaves a header out, `""` sends it empty
---@field body? string the body, as it is
---@field json? mpod.JsonValue the body as JSON, with Content-Type application/json
---@field cookie? string|table<string, string> the Cookie header (`"a=1; b=2"` or `res.cookies`)
---@field bearer? string `Authorization: Bearer <token>`
---@field timeout? number seconds for the whole exchange (default the cluster file's `http.timeout`, else 30)
---@field connect_timeout? number seconds to connect (default `timeout`)
---@field follow? boolean follow redirects (up to 10)
---@field unix_socket? string connect to this socket instead of the URL's host
---@field proxy? string a proxy URL (none is used otherwise)
---@field max_body? integer largest body accepted, bytes (default 1 GiB); past it kind `too_big`
---@field pod? string a name for messages
---@field raise? boolean `false`: a transport failure returns `nil, err` instead of raising (default true)

---A header line of a response.
---@class mpod.HeaderLine
---@field name string in lower case
---@field value string

---One Set-Cookie header, parsed.
---@class mpod.SetCookie
---@field name string
---@field value string
---@field path? string
---@field domain? string
---@field expires? integer epoch seconds
---@field max_age? integer
---@field secure? boolean
---@field http_only? boolean
---@field same_site? string
---@field expired boolean Max-Age <= 0, or (without Max-Age) Expires has passed

---An HTTP response. Any status is a response; `tostring(res)` is the
---status and the start of the body on one line.
---@class mpod.Response
---@field status integer
---@field headers table<string, string> names in lower case; repeated headers joined with ", "
---@field header_list mpod.HeaderLine[] every header line in order
---@field body string `""` when there is none
---@field json mpod.JsonValue the body decoded on first use (nil for an empty body; a `json` error when invalid)
---@field cookies table<string, string> the cookies it sets, without those it deletes
---@field set_cookies mpod.SetCookie[] every Set-Cookie, parsed
---@field head string the header lines as received, status line included
---@field time number seconds the exchange took
---@field url string the URL answered (after redirects with `follow`)
---@field method string
---@field path string
---@field pod? string
local Response = {}

---True for a 2xx status.
---@return boolean
function Response:ok() end

---Returns `res` when the status is `want` (a number, a list of numbers, or
---nothing for any 2xx); else raises a `status` error quoting the body.
---@param want? integer|integer[]
---@return mpod.Response
function Response:expect(want) end

---`"a=1; b=2"`: the cookies this response sets and does not delete, for `cookie =`.
---@return string
function Response:cookie_header() end

---Every value of one header (any case), in order.
---@param name string
---@return string[]
function Response:header_values(name) end

---Options of `pod:sse` and `mp.http.sse`: as for requests (no method or
---body), plus these.
---@class mpod.SseOptions
---@field url? string `mp.http.sse`: the full URL (required there)
---@field path? string pod streams: the path
---@field query? table<string, string|number|boolean|(string|number)[]>|string
---@field headers? table<string, string|false>
---@field cookie? string|table<string, string>
---@field bearer? string
---@field timeout? number seconds to wait for each connection's response head (default as for requests); also the default of `wait_for`
---@field connect_timeout? number seconds to connect
---@field follow? boolean
---@field unix_socket? string
---@field proxy? string
---@field pod? string
---@field last_event_id? string|integer sent as Last-Event-ID on the first connection
---@field reconnect? boolean reconnect by itself after the connection drops
---@field retry? number seconds before reconnecting, until the server sends `retry:` (default 1)
---@field max_attempts? integer failed reconnections in a row before giving up (default 10)
---@field queue_limit? integer bytes of unread events held before reading pauses (default 16 MiB)
---@field max_events? number events `s.events` keeps, the latest (default 10,000; `math.huge`: all)
---@field raise? boolean `false`: a stream that does not open returns `nil, err` instead of raising (default true)

---One Server-Sent Event. `tostring(ev)` is `type (id N): data`.
---@class mpod.SseEvent
---@field event string the type (`"message"` without an `event:` field)
---@field data string `data:` lines joined with "\n"
---@field id? string the last event ID as of this event
---@field retry? integer the last `retry:` the server sent, ms
---@field time number `mp.now()` when it arrived
---@field json mpod.JsonValue `data` decoded on first use (a `json` error when it is not JSON)

---@alias mpod.SseState "open"|"opening"|"retrying"|"ended"|"closed"

---An SSE stream. Events queue while the task does other things; usable
---with `<close>`.
---@class mpod.SseStream
---@field events mpod.SseEvent[] the events that arrived so far, read or not: the latest `max_events`
---@field dropped_events integer older events `events` let go past `max_events`
---@field error? mpod.Error what the last connection ended with
---@field status integer the status that opened the stream
---@field headers table<string, string> the head that opened the stream (names in lower case)
---@field pod? string
---@field path string
---@field url string
---@field timeout? number the `timeout` option
local SseStream = {}

---The next unread event; `nil, "timeout"` when none arrives within
---`timeout` seconds (no limit without), `nil, "closed"` once the stream
---ended and everything was read. Raises when reconnection gave up.
---@param timeout? number seconds
---@return mpod.SseEvent|nil
---@return "timeout"|"closed"|nil
function SseStream:next(timeout) end

---Reads like `next` until an event matches (`want`: a predicate, or a
---string equal to the type or found in the data); raises `timeout` or
---`closed` listing what arrived (field `arrived`).
---@param want string|fun(ev: mpod.SseEvent): any
---@param timeout? number seconds (default the stream's `timeout`, else 30)
---@return mpod.SseEvent
function SseStream:wait_for(want, timeout) end

---Drops the connection and opens a new one with Last-Event-ID; raises as
---opening does.
---@return mpod.SseStream
function SseStream:reconnect() end

---@return mpod.SseState
function SseStream:state() end

---The last event ID (what a reconnection sends), or nil.
---@return string|nil
function SseStream:last_id() end

---Events received but not yet in `s.events`, their size in bytes, and
---whether reading paused at `queue_limit`.
---@return integer count
---@return integer bytes
---@return boolean paused
function SseStream:pending() end

---Stops the transfer; events already received stay in `s.events`.
function SseStream:close() end

---`mp.http`: HTTP and SSE to any URL.
---@class mpod.http
local http = {}

---The request `opts` describes; `opts.url` is the full URL.
---@param spec mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.request(spec) end

---@param url string
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.get(url, opts) end

---@param url string
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.delete(url, opts) end

---@param url string
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.head(url, opts) end

---@param url string
---@param body? mpod.JsonValue sent as JSON
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.post(url, body, opts) end

---@param url string
---@param body? mpod.JsonValue sent as JSON
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.put(url, body, opts) end

---@param url string
---@param body? mpod.JsonValue sent as JSON
---@param opts? mpod.RequestOptions
---@return mpod.Response|nil res nil (with `raise = false`) when no response came
---@return mpod.Error? err why, then
function http.patch(url, body, opts) end

---Opens an SSE stream at `opts.url`.
---@param spec mpod.SseOptions
---@return mpod.SseStream|nil stream nil (with `raise = false`) when it did not open
---@return mpod.Error? err why, then
function http.sse(spec) end

---`value` percent-encoded for a path segment or query (all but letters,
---digits and `-._~`).
---@param value any
---@return string
function http.encode_component(value) end

---A body as one line for a message: at most `limit` (default 200)
---characters, white space folded, "..." when cut, and
---"<N bytes of binary data>" for binary data; "" for nil or "".
---@param text string|nil
---@param limit? integer
---@return string
function http.excerpt(text, limit) end

---One Set-Cookie value parsed, or nil when it names no cookie. `now`
---(epoch seconds, default the clock) decides `expired`.
---@param text string
---@param now? number
---@return mpod.SetCookie|nil
function http.parse_set_cookie(text, now) end

-- JSON ------------------------------------------------------------------------

---Options of `mp.json.encode`.
---@class mpod.JsonEncodeOptions
---@field pretty? boolean one member per line, tab-indented (default false)
---@field sort_keys? boolean object keys in byte order (default true)

---`mp.json` (also `require "mpod.json"`).
---@class mpod.json
---@field null mpod.Null JSON null, the same value as `mp.null`
local json = {}

---The Lua value of `text`; raises a `json` error with `position`, `line`
---and `column` when it is not valid JSON.
---@param text string
---@return mpod.JsonValue
function json.decode(text) end

---Compact JSON text, keys sorted; raises a `json` error naming the path
---(`e.path`) of what JSON cannot hold.
---@param value mpod.JsonValue
---@param opts? mpod.JsonEncodeOptions
---@return string
function json.encode(value, opts) end

---Marks `t` (default a new table) to encode as a JSON array; returns it.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

-- Postgres ---------------------------------------------------------------------

---Options of `mp.pg.connect`.
---@class mpod.PgConnectOptions
---@field timeout? number seconds to connect (default 10)
---@field query_timeout? number seconds each query may take (default none)
---@field raise? boolean `false`: a failure to connect returns `nil, err` (kind `connect`) instead of raising (default true)

---`mp.pg`.
---@class mpod.pg
---@field null mpod.Null SQL NULL, the same value as `mp.null`
local pg = {}

---A connection; raises a `connect` error (password masked), or returns
---`nil` and it with `raise = false`.
---@param dsn string a libpq URI or key=value string
---@param opts? mpod.PgConnectOptions
---@return mpod.PgConn|nil db
---@return mpod.Error? err
function pg.connect(dsn, opts) end

---A row: column name -> value (NULL as `mp.null`).
---@alias mpod.PgRow table<string, any>

---What `db:query` returns: the rows in order, and the column names.
---@class mpod.PgRows
---@field [integer] mpod.PgRow the rows, in order
---@field columns string[] the column names, in order

---A notification from `db:wait_notify`.
---@class mpod.PgNotification
---@field channel string
---@field payload string
---@field pid integer the sending backend's process id

---@alias mpod.PgStatus "idle"|"busy"|"broken"|"closed"|"connecting"

---A Postgres connection (metatable `mpod.pg.Conn`); usable with `<close>`.
---Parameters `$1..$n` are always bound: nil and `mp.null` as NULL, tables
---as JSON.
---@class mpod.PgConn
local PgConn = {}

---Every row and the command's row count.
---@param sql string one statement
---@param ... any parameters `$1..$n`
---@return mpod.PgRows rows
---@return integer count
function PgConn:query(sql, ...) end

---The first row, or nil.
---@param sql string
---@param ... any
---@return mpod.PgRow|nil
function PgConn:one(sql, ...) end

---The first column of the first row, or nil when there is no row.
---@param sql string
---@param ... any
---@return any
function PgConn:scalar(sql, ...) end

---The number of rows the command affected (0 for DDL).
---@param sql string
---@param ... any
---@return integer
function PgConn:exec(sql, ...) end

---LISTEN on `channel` (quoted: any string works).
---@param channel string
function PgConn:listen(channel) end

---UNLISTEN `channel`.
---@param channel string
function PgConn:unlisten(channel) end

---`pg_notify(channel, payload)`, both bound.
---@param channel string
---@param payload? string
function PgConn:notify(channel, payload) end

---The next notification, or `nil, "timeout"`.
---@param timeout? number seconds (no limit without)
---@return mpod.PgNotification|nil
---@return "timeout"|nil
function PgConn:wait_notify(timeout) end

---Closes the connection (a query in flight is cancelled); twice is fine.
function PgConn:close() end

---Each query's time limit from now on; nil for none.
---@param seconds? number
function PgConn:set_timeout(seconds) end

---The query time limit, or nil.
---@return number|nil
function PgConn:timeout() end

---The server process serving this connection (`pg_stat_activity.pid`).
---@return integer
function PgConn:backend_pid() end

---@return mpod.PgStatus
function PgConn:status() end

-- TCP --------------------------------------------------------------------------

---Options of `mp.tcp.connect`; `timeout`, `max` and `raise` are also the
---connection's defaults for every call.
---@class mpod.TcpOptions
---@field timeout? number seconds to connect and for each later call (default 10)
---@field connect_timeout? number seconds to connect (default `timeout`)
---@field max? integer bytes `receive_until` takes before its delimiter (default 1 MiB); past it `too_big`
---@field raise? boolean `false`: failures return `nil, err` instead of raising (default true)

---Options of one call on a connection; a number instead is the timeout.
---@class mpod.TcpCallOptions
---@field timeout? number seconds for the whole call (default the connection's)
---@field max? integer `receive_until`: bytes before the delimiter (default the connection's)
---@field raise? boolean `false`: a failure returns `nil, err` (default the connection's)

---`mp.tcp`: TCP connections on the scenario's event loop.
---@class mpod.tcp
local tcp = {}

---Connects to `host`:`port` (or `"host:port"`); raises `connect`, `dns` or
---`timeout`, or returns `nil, err` with `raise = false`.
---@param host string a name, an address, or `"host:port"`
---@param port? integer|mpod.TcpOptions the port; options when `host` holds it
---@param opts? mpod.TcpOptions
---@return mpod.TcpConn|nil conn
---@return mpod.Error? err
function tcp.connect(host, port, opts) end

---A TCP connection. `tostring(conn)` is `tcp host:port (open)`; usable
---with `<close>`. One task at a time may receive, one may send.
---@class mpod.TcpConn
---@field host string
---@field port integer
---@field timeout number the default timeout of each call
---@field max integer the default limit of `receive_until`
---@field raise? boolean the default of `raise`
local TcpConn = {}

---Sends `data` and waits until it is written (raises `closed` when the peer
---has gone, `timeout` when it takes no data). Returns the connection.
---@param data string
---@param opts? number|mpod.TcpCallOptions
---@return mpod.TcpConn|nil conn
---@return mpod.Error? err
function TcpConn:send(data, opts) end

---The bytes before the next `delim` (which is consumed, not returned).
---Raises `timeout` (what arrived is kept), `closed` (with `partial`) or
---`too_big` (more than `max` bytes without `delim`).
---@param delim string `"\r\n"`, `"\n"`, any non-empty string
---@param opts? number|mpod.TcpCallOptions
---@return string|nil data
---@return mpod.Error? err
function TcpConn:receive_until(delim, opts) end

---Exactly `n` bytes. Raises `timeout` (what arrived is kept) or `closed`
---(with `partial`).
---@param n integer
---@param opts? number|mpod.TcpCallOptions
---@return string|nil data
---@return mpod.Error? err
function TcpConn:receive(n, opts) end

---Closes the connection; twice is fine.
function TcpConn:close() end

-- Checkers -----------------------------------------------------------------------

---What a checker returns; more fields by checker (docs/checkers.md).
---@class mpod.CheckResult
---@field valid boolean|"unknown" false: an anomaly (raised unless `raise = false`)
---@field checker string the checker's name
---@field reason? string why `valid` is `"unknown"`
---@field error? mpod.Error the `check` error, with `raise = false`

---Options of `mp.check.linearizable`.
---@class mpod.LinearizableOptions
---@field model? "register"|"cas-register"|"set"|"queue" the object's model (default `"register"`)
---@field budget? number seconds the search may take; then `valid = "unknown"` (default 10)
---@field f? table<string, string> the history's names of the model's ops: `{ read = "get" }`
---@field init? any the first state: a value (registers), an array (set, queue)
---@field max_bytes? integer memory of the search for one key; then `"unknown"` (default 1 GiB)
---@field engine? boolean also read the ops the engine recorded (default false)
---@field raise? boolean `false`: return the result instead of raising (default true)

---Options of `mp.check.fencing` and `mp.check.no_split_brain`.
---@class mpod.LogCheckOptions
---@field raise? boolean `false`: return the result instead of raising (default true)

---Options of `mp.check.set`.
---@class mpod.SetCheckOptions
---@field add? string the adds' `f` (default `"add"`)
---@field read? string the reads' `f` (default `"read"`); the last successful one is final
---@field engine? boolean also read the ops the engine recorded (default false)
---@field raise? boolean `false`: return the result instead of raising (default true)

---Options of `mp.check.exactly_once`.
---@class mpod.ExactlyOnceOptions
---@field first? integer the first item expected (default 1)
---@field raise? boolean `false`: return the result instead of raising (default true)

---Options of `mp.check.monotonic`.
---@class mpod.MonotonicOptions
---@field f string the reads' `f`
---@field per? "process"|"pod"|fun(op: table): any who a reader is (default `"process"`)
---@field value? fun(op: table): number the number an op read (default its `value`)
---@field strict? boolean a value may not repeat either (default false)
---@field engine? boolean also read the ops the engine recorded (default false)
---@field raise? boolean `false`: return the result instead of raising (default true)

---Options of `mp.check.read_your_writes`.
---@class mpod.ReadYourWritesOptions
---@field write? string the writes' `f` (default `"write"`)
---@field read? string the reads' `f` (default `"read"`)
---@field per? "process"|"pod"|fun(op: table): any who a client is (default `"process"`)
---@field window? number seconds a read may still miss the write (default 0)
---@field engine? boolean also read the ops the engine recorded (default false)
---@field raise? boolean `false`: return the result instead of raising (default true)

---`mp.check`: checkers of operation histories (docs/checkers.md). Each
---takes `mp.history()` or an array of op tables and raises a `check`
---error when the history shows an anomaly.
---@class mpod.check
local check = {}

---Whether the ops fit one sequential order that respects real time and
---the model (Wing-Gong-Lowe search, per key, within `budget`).
---@param h table `mp.history()` or an array of ops
---@param opts? mpod.LinearizableOptions
---@return mpod.CheckResult result
function check.linearizable(h, opts) end

---Rows `{owner=, epoch=, write=, time=}` in persisted order: epochs never
---go back, one owner an epoch.
---@param log table[]
---@param opts? mpod.LogCheckOptions
---@return mpod.CheckResult result
function check.fencing(log, opts) end

---Rows `{owner=, time=}`: sorted by time, a superseded owner never acts again.
---@param log table[]
---@param opts? mpod.LogCheckOptions
---@return mpod.CheckResult result
function check.no_split_brain(log, opts) end

---Jepsen's set checker: lost, unexpected, duplicated, recovered items.
---@param h table `mp.history()` or an array of ops
---@param opts? mpod.SetCheckOptions
---@return mpod.CheckResult result
function check.set(h, opts) end

---`seq` holds `first .. first + n - 1`, each once, in order.
---@param seq table numbers, or ops whose `value` is the number
---@param n integer
---@param opts? mpod.ExactlyOnceOptions
---@return mpod.CheckResult result
function check.exactly_once(seq, n, opts) end

---The values each reader reads never go back.
---@param h table `mp.history()` or an array of ops
---@param opts mpod.MonotonicOptions
---@return mpod.CheckResult result
function check.monotonic(h, opts) end

---After the window, a client's reads see its writes (or newer ones).
---@param h table `mp.history()` or an array of ops
---@param opts? mpod.ReadYourWritesOptions
---@return mpod.CheckResult result
function check.read_your_writes(h, opts) end

-- History -------------------------------------------------------------------------

---The file's one history of operations (docs/history.md): the same object
---on every call. The engine records its own operations in it (requests,
---streams, pod control, faults, queries, polls, tests), `engine = true`.
---@return mpod.History
function mp.history() end

---Where an operation is pinned: `process` (default: 0 for the test's own
---task, else the id of the task that calls), `pod` (a pod or its name),
---`key` (checkers split the history on it).
---@class mpod.OpOptions
---@field process? integer|string
---@field pod? string|mpod.Pod
---@field key? any

---An operation as `h:ops()` returns it, and one line of `--history DIR`.
---@class mpod.HistoryOp
---@field index integer 0-based, in record order
---@field time number seconds since the file started (monotonic)
---@field process integer|string the task id (0: the test's own task), or a name such as `"nemesis"`
---@field type "invoke"|"ok"|"fail"|"info"
---@field f string the operation's name (`"http"`, `"test"`, `"pod.kill"`, or the scenario's own)
---@field value any
---@field pod? string
---@field key? any
---@field test? string the full name of the test running when it was recorded
---@field invoke? integer on a completion: the index of its invoke
---@field error? {kind: string, message: string} on fail and info
---@field engine? boolean true on the engine's own ops
---@field point? boolean true on an op without duration (`h:observe`, SSE events)

---Filter of `h:ops`: every field given must be equal.
---@class mpod.OpsFilter
---@field f? string
---@field pod? string
---@field type? "invoke"|"ok"|"fail"|"info"
---@field key? any
---@field engine? boolean true: the engine's ops only; false: the scenario's only
---@field test? string
---@field process? integer|string

---Counts of `h:stats()`.
---@class mpod.HistoryStats
---@field ops integer ops recorded since the file started
---@field kept integer ops in memory
---@field engine integer engine ops in memory
---@field user integer the scenario's ops in memory (never dropped)
---@field dropped_ops integer engine ops dropped past `limits.engine_ops`
---@field dropped_detail integer engine ops that lost their detail past `limits.detail_ops`
---@field written integer ops written to the history file
---@field write_errors integer batches the history file did not take
---@field file? string the history file, when the run writes one
---@field limits {engine_ops: integer, detail_ops: integer}

---@class mpod.History
local History = {}

---Records the start of an operation; complete the handle with `ok`,
---`fail` or `info`. An op never completed stays open (like `info`).
---@param f string the operation's name
---@param value? any copied when recorded
---@param opts? mpod.OpOptions
---@return mpod.Op
function History:invoke(f, value, opts) end

---Records something seen, not done: one op of type `ok` with `point = true`.
---@param f string
---@param value? any
---@param opts? mpod.OpOptions
---@return integer index
function History:observe(f, value, opts) end

---Copies of the ops in memory that match, in index order (redacted, with
---the engine's detail parsed).
---@param filter? mpod.OpsFilter
---@return mpod.HistoryOp[]
function History:ops(filter) end

---@return mpod.HistoryStats
function History:stats() end

---Changes the memory bounds (defaults 100000 engine ops, 10000 with detail).
---@param limits {engine_ops?: integer, detail_ops?: integer}
---@return mpod.History
function History:set_limits(limits) end

-- Nemesis ---------------------------------------------------------------------------

---A fault of the `faults` list: a pod fault's name, or a proxy fault
---`{"latency" | "timeout" | "down" | "reset_peer" | "bandwidth", proxy = name, ...options}`.
---@alias mpod.NemesisFault "kill"|"stop"|"pause"|"restart"|"isolate"|table

---Options of `mp.nemesis` and `mp.nemesis.plan`.
---@class mpod.NemesisOptions
---@field faults mpod.NemesisFault[] the faults to draw from
---@field targets? (string|mpod.Pod)[]|string|fun(pod: mpod.Pod): boolean pods or names, a group, a filter (default every pod)
---@field interval? number|number[] seconds between two faults' starts, `{min, max}` (default {1, 3})
---@field length? number|number[] seconds a fault lasts before it is healed, `{min, max}` (default {1, 3})
---@field duration? number seconds after which no fault starts (default: until closed)
---@field count? integer faults after which no fault starts
---@field max_down? integer pods down at once, at most (default 1)
---@field seed? integer the schedule's seed (default: from `--seed`, the file and the test)

---One fault of a schedule.
---@class mpod.NemesisEvent
---@field at number seconds after the nemesis started
---@field fault string
---@field pod? string
---@field proxy? string
---@field length? number seconds until it is healed (none for restart)

---What `mp.nemesis.plan` returns.
---@class mpod.NemesisPlan
---@field seed integer
---@field events mpod.NemesisEvent[]

---`mp.nemesis{...}` starts a nemesis (a task, process `"nemesis"` in the
---history) that injects faults on its schedule and heals each after its
---length; closing it, or the end of its test, heals what is still down.
---@class mpod.nemesis
---@overload fun(opts: mpod.NemesisOptions): mpod.Nemesis
local nemesis = {}

---The schedule of a nemesis with these options, computed without running
---it (needs `duration` or `count`).
---@param opts mpod.NemesisOptions
---@return mpod.NemesisPlan
function nemesis.plan(opts) end

---The seed a nemesis derives from the run's seed, the file, the test and
---its number in the test.
---@param run_seed integer
---@param file string
---@param test string
---@param n integer
---@return integer
function nemesis.derive(run_seed, file, test, n) end

---A running nemesis. `tostring` gives `nemesis (seed N, running)`.
---@class mpod.Nemesis
---@field seed integer
local Nemesis = {}

---The faults of its schedule: all with `duration` or `count`, else the
---first `count` (default: those drawn so far).
---@param count? integer
---@return mpod.NemesisEvent[]
function Nemesis:schedule(count) end

---The seed and the schedule as a failing test's diagnostics show them.
---@return string
function Nemesis:describe() end

---Stops after the step under way and heals what it left down; raises
---`state` when a heal failed. Twice is fine; `<close>` calls it.
function Nemesis:close() end

---An invoked operation, from `h:invoke`. Reads `index`, `f`, `value`,
---`process`, `time`, `pod`, `key`, `test` of its invoke.
---@class mpod.Op
---@field index integer
---@field f string
---@field value any
---@field process integer|string
local Op = {}

---It happened; `value` defaults to the invoke's. Completing twice raises `usage`.
---@param value? any
---@return mpod.Op
function Op:ok(value) end

---It surely did not happen.
---@param err? any an error, a message
---@return mpod.Op
function Op:fail(err) end

---Unknown whether it happened (a timeout, a lost connection).
---@param err? any
---@return mpod.Op
function Op:info(err) end

---`"ok"`, `"fail"`, `"info"`, or nil while open.
---@return "ok"|"fail"|"info"|nil
function Op:completed() end

return mp
