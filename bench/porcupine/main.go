// Command porcupine-bench times Porcupine (v1.3.1) on history files in
// mpod-lua's export format (one JSON op a line: index, process, type =
// invoke|ok|fail|info, f = read|write|cas, value, key, invoke, engine),
// for the linearizability part of `make bench` (bench/linear.sh), which
// gives it the histories mpod-lua exported (`--history`) while running
// bench/linear_workload.lua. It reads the ops exactly as
// mp.check.linearizable does (model "cas-register"): the ops the engine
// recorded itself ("engine": true: the test's start and end, requests)
// are left out, as are ops of other names; a failed op never happened
// and is left out, as is a read whose result is unknown; an op completed
// "info" or never completed returns after everything (it may take effect
// any time after its invoke); a cas completed ok with value false ran
// and found another value. Calls and returns keep the file's order,
// partitions are the keys.
//
// Usage: porcupine-bench [-runs N] [-timeout S] FILE...
// Prints one line per file: "file verdict best-seconds runs", the best of
// N runs or of 200000 / ops runs when that is more.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

const null = -1000000 // the register's nil

type op struct {
	Index   int             `json:"index"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Value   json.RawMessage `json:"value"`
	Key     json.RawMessage `json:"key"`
	Invoke  *int            `json:"invoke"`
	Process json.RawMessage `json:"process"`
	Engine  bool            `json:"engine"`
}

type input struct {
	op   uint8 // 0 read, 1 write, 2 cas
	a, b int
}

type output struct {
	ok, unknown bool
	value       int
}

// one call or return, in file order
type mark struct {
	call bool
	id   int
	key  string
	in   input
	out  output
}

func intOr(raw json.RawMessage) int {
	var v *int
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v == nil {
		return null
	}
	return *v
}

func parseInput(o *op) input {
	switch o.F {
	case "write":
		return input{op: 1, a: intOr(o.Value)}
	case "cas":
		var pair []*int
		_ = json.Unmarshal(o.Value, &pair)
		in := input{op: 2, a: null, b: null}
		if len(pair) == 2 && pair[0] != nil {
			in.a = *pair[0]
		}
		if len(pair) == 2 && pair[1] != nil {
			in.b = *pair[1]
		}
		return in
	}
	return input{op: 0}
}

// readMarks reads the file's calls and returns in order; completed[id]
// says how op id ended ("ok", "fail", "info"; absent: never)
func readMarks(path string) ([]mark, map[int]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var marks []mark
	completed := map[int]string{}
	idOf := map[int]int{} // invoke index -> position of its call in marks
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var o op
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		if o.Engine || (o.F != "read" && o.F != "write" && o.F != "cas") {
			continue
		}
		if o.Type == "invoke" {
			idOf[o.Index] = len(marks)
			marks = append(marks, mark{call: true, id: len(idOf) - 1, key: string(o.Key), in: parseInput(&o)})
			continue
		}
		if o.Invoke == nil {
			continue
		}
		at, ok := idOf[*o.Invoke]
		if !ok {
			continue
		}
		c := marks[at]
		completed[c.id] = o.Type
		if o.Type == "ok" {
			out := output{ok: string(o.Value) != "false", value: intOr(o.Value)}
			marks = append(marks, mark{id: c.id, key: c.key, out: out})
		}
	}
	return marks, completed, sc.Err()
}

// readHistory -> the events of each key, as mp.check.linearizable builds them
func readHistory(path string) (map[string][]porcupine.Event, error) {
	marks, completed, err := readMarks(path)
	if err != nil {
		return nil, err
	}
	parts := map[string][]porcupine.Event{}
	var unknown []mark
	for _, m := range marks {
		how := completed[m.id]
		if !m.call {
			parts[m.key] = append(parts[m.key], porcupine.Event{Kind: porcupine.ReturnEvent, Value: m.out, Id: m.id})
			continue
		}
		if how == "fail" || (how != "ok" && m.in.op == 0) {
			continue // never happened, or a read with no result
		}
		parts[m.key] = append(parts[m.key], porcupine.Event{Kind: porcupine.CallEvent, Value: m.in, Id: m.id})
		if how != "ok" {
			unknown = append(unknown, m)
		}
	}
	for _, m := range unknown { // ops of unknown outcome return after everything
		parts[m.key] = append(parts[m.key], porcupine.Event{Kind: porcupine.ReturnEvent, Value: output{unknown: true}, Id: m.id})
	}
	return parts, nil
}

var model = porcupine.Model{
	Init: func() interface{} { return null },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		st := state.(int)
		i := in.(input)
		o := out.(output)
		switch i.op {
		case 0:
			return o.unknown || o.value == st, st
		case 1:
			return true, i.a
		default:
			if o.unknown {
				if st == i.a {
					return true, i.b
				}
				return true, st
			}
			if (st == i.a) != o.ok {
				return false, st
			}
			if o.ok {
				return true, i.b
			}
			return true, st
		}
	},
	Hash: func(state interface{}) uint64 { return uint64(state.(int)) * 0x9e3779b97f4a7c15 },
}

func main() {
	runs := flag.Int("runs", 3, "runs of each file (the best is printed)")
	timeout := flag.Float64("timeout", 300, "seconds before Porcupine answers unknown")
	flag.Parse()
	for _, path := range flag.Args() {
		parts, err := readHistory(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "porcupine-bench:", err)
			os.Exit(1)
		}
		var all []porcupine.Event
		var groups [][]porcupine.Event
		for _, evs := range parts {
			groups = append(groups, evs)
			all = append(all, evs...)
		}
		m := model
		m.PartitionEvent = func([]porcupine.Event) [][]porcupine.Event { return groups }
		best := 0.0
		var verdict porcupine.CheckResult
		n := *runs
		if more := 400000 / (len(all) + 1); more > n { // as bench/linear.lua: 200000 / ops
			n = more
		}
		for r := 0; r < n; r++ {
			start := time.Now()
			verdict = porcupine.CheckEventsTimeout(m, all, time.Duration(*timeout*float64(time.Second)))
			s := time.Since(start).Seconds()
			if r == 0 || s < best {
				best = s
			}
		}
		fmt.Printf("%s %s %.6f %d\n", path, verdict, best, n)
	}
}
