package jmx

import (
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// maxRequests bounds the mix: CSV rows multiply samplers.
	maxRequests = 100000
	// maxThreads bounds a thread group; rolltest's workers are goroutines,
	// but a million of them is already more than a node can connect.
	maxThreads = 1_000_000
)

// maxWork bounds the look-ups translating samplers costs: every request
// looks at every argument, header and CSV variable in its scope, and a
// crafted plan could put many of those over many samplers. Text scanned
// counts a unit a byte.
const maxWork = 1 << 24

type translator struct {
	work     int // against maxWork
	csvRead  int // bytes of CSV read, against maxCSVTotal
	dir      string
	vars     map[string]string
	notes    []Note
	seen     map[Note]bool
	expanded int // bytes substitution produced so far, against maxExpanded
	groups   []*group
	timers   []rateTimer
	nreq     int

	statuses   []int
	expectBody string
	maxDurMs   int64
	timeout    time.Duration
}

// group is one thread group and the requests one of its threads sends in
// one iteration, each weighted by how often it is sent per iteration.
type group struct {
	path             string
	threads, loops   int
	rampUp, duration time.Duration
	reqs             []weighted
}

type weighted struct {
	req  Request
	w    *big.Rat
	path string
}

// rateTimer is a throughput timer; its rate applies per thread, per thread
// group, or to everything it covers, and group is -1 at the plan's level.
type rateTimer struct {
	perSec float64
	per    rateScope
	group  int
}

type rateScope int

const (
	perTotal rateScope = iota
	perThread
	perGroup
)

// scope is what the config elements of one level of the tree give the
// samplers at that level and below.
type scope struct {
	// fields are the HTTP Request Defaults' values at this level, and
	// args their arguments, read once: a sampler looks up every level.
	fields  map[string]string
	args    []argument
	headers []Header // the Header Managers', in order
	keys    []string // headers' names in lower case
	csvs    []*csvData
	// cost is what a sampler pays to look at this level: its arguments,
	// headers and CSV variables.
	cost int
}

// defaultFields are the HTTP Request Defaults fields a sampler inherits.
func defaultFields() []string {
	return []string{
		"HTTPSampler.protocol", "HTTPSampler.domain", "HTTPSampler.port", "HTTPSampler.path",
		"HTTPSampler.connect_timeout", "HTTPSampler.response_timeout",
	}
}

// walk is where the translation is in the tree.
type walk struct {
	path   []string
	scopes []*scope
	mult   *big.Rat // how many times per iteration the samplers here run
	loop   int      // the innermost loop's count, -1 for forever
	g      *group
	gi     int // index of g, -1 outside a thread group
}

func (w walk) at(name string) walk {
	w.path = append(w.path[:len(w.path):len(w.path)], name)
	return w
}

func (w walk) String() string { return strings.Join(w.path, PathSep) }

func newTranslator(dir string) *translator {
	return &translator{dir: dir, vars: map[string]string{}, seen: map[Note]bool{}}
}

func (t *translator) note(path, msg string) {
	n := Note{Path: path, Msg: msg}
	if !t.seen[n] {
		t.seen[n] = true
		t.notes = append(t.notes, n)
	}
}

func (t *translator) plan(top *element) error {
	w := walk{path: []string{top.name}, mult: big.NewRat(1, 1), loop: 1, gi: -1}
	if err := t.userVariables(top, w); err != nil {
		return err
	}
	if str(top.props, "TestPlan.serialize_threadgroups") == "true" {
		t.note(w.String(), "thread groups run one after another in JMeter, all at once in rolltest")
	}
	sc, err := t.configs(top.kids, w)
	if err != nil {
		return err
	}
	w.scopes = []*scope{sc}
	for _, k := range top.kids {
		if !k.enabled {
			continue
		}
		kw := w.at(k.name)
		switch {
		case isThreadGroup(k.class):
			if err := t.threadGroup(k, kw); err != nil {
				return err
			}
		case isSampler(k.class), isController(k.class):
			t.note(kw.String(), "outside a thread group: never runs in JMeter either")
		}
	}
	if len(t.groups) == 0 {
		return fmt.Errorf("%s: no enabled thread group that sends anything", w)
	}
	return nil
}

// userVariables defines the TestPlan's variables and then those of every
// enabled User Defined Variables element: JMeter reads them all at the
// start, wherever they sit, each value seeing the ones defined before it.
func (t *translator) userVariables(top *element, w walk) error {
	if err := t.define(items(prop(top.props, "TestPlan.user_defined_variables"), "Arguments.arguments"), w.String()); err != nil {
		return err
	}
	var visit func(kids []*element, w walk) error
	visit = func(kids []*element, w walk) error {
		for _, k := range kids {
			if !k.enabled {
				continue
			}
			kw := w.at(k.name)
			if k.class == "Arguments" {
				if err := t.define(items(k.props, "Arguments.arguments"), kw.String()); err != nil {
					return err
				}
			}
			if err := visit(k.kids, kw); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(top.kids, w)
}

func (t *translator) define(args []*node, path string) error {
	for _, a := range args {
		name := str(a, "Argument.name")
		if name == "" {
			continue
		}
		v, err := t.expand(str(a, "Argument.value"), path, nil)
		if err != nil {
			return err
		}
		t.vars[name] = v
	}
	return nil
}

func (t *translator) threadGroup(el *element, w walk) error {
	path := w.String()
	if el.class != "ThreadGroup" {
		msg := "not supported: only plain Thread Groups are carried over"
		switch el.class {
		case "SetupThreadGroup":
			msg = "not supported: run the setUp steps before rolltest"
		case "PostThreadGroup":
			msg = "not supported: run the tearDown steps after rolltest"
		}
		t.note(path, msg)
		return nil
	}
	threads, err := t.intProp(el.props, "ThreadGroup.num_threads", path, 1)
	if err != nil {
		return err
	}
	ramp, err := t.seconds(el.props, "ThreadGroup.ramp_time", path)
	if err != nil {
		return err
	}
	if threads < 0 || threads > maxThreads {
		return fmt.Errorf("%s: %d threads: want 0 to %d", path, threads, maxThreads)
	}
	g := &group{path: path, threads: threads, rampUp: time.Duration(ramp) * time.Second, loops: 1}
	if ramp > 0 {
		t.note(path, fmt.Sprintf("ramp-up of %ds not carried over: rolltest starts at full load", ramp))
	}
	main := prop(el.props, "ThreadGroup.main_controller")
	if main != nil {
		if g.loops, err = t.intProp(main, "LoopController.loops", path, 1); err != nil {
			return err
		}
		// JMeter writes "Infinite" as -1, whatever continue_forever says.
		g.loops = max(g.loops, -1)
	}
	if str(el.props, "ThreadGroup.scheduler") == "true" {
		d, err := t.seconds(el.props, "ThreadGroup.duration", path)
		if err != nil {
			return err
		}
		g.duration = time.Duration(d) * time.Second
		delay, err := t.seconds(el.props, "ThreadGroup.delay", path)
		if err != nil {
			return err
		}
		if delay > 0 {
			t.note(path, fmt.Sprintf("start-up delay of %ds not carried over", delay))
		}
	}
	if g.loops == 0 {
		t.note(path, "loops 0: the thread group sends nothing")
		return nil
	}
	w.g, w.gi, w.loop = g, len(t.groups), g.loops
	t.groups = append(t.groups, g)
	return t.children(el.kids, w)
}

// intProp reads an integer property after substitution; empty is def.
func (t *translator) intProp(n *node, name, path string, def int) (int, error) {
	s, err := t.expand(strings.TrimSpace(str(n, name)), path, nil)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %s %q is not a whole number", path, name, s)
	}
	return v, nil
}

// maxSeconds bounds a thread group's times: a year is longer than any
// test, and keeps a time.Duration far from overflowing.
const maxSeconds = 365 * 24 * 3600

// seconds reads a thread group's time in seconds; empty is 0.
func (t *translator) seconds(n *node, name, path string) (int, error) {
	v, err := t.intProp(n, name, path, 0)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > maxSeconds {
		return 0, fmt.Errorf("%s: %s %d: want 0 to %d seconds", path, name, v, maxSeconds)
	}
	return v, nil
}

func (t *translator) floatProp(n *node, name, path string) (float64, error) {
	s, err := t.expand(strings.TrimSpace(str(n, name)), path, nil)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 1e12 {
		return 0, fmt.Errorf("%s: %s %q is not a number of 0 or more", path, name, s)
	}
	return v, nil
}

// children translates one level of a thread group's tree: first the config
// elements of the level, which apply to every sampler in it whatever their
// order, then its samplers and controllers.
func (t *translator) children(kids []*element, w walk) error {
	sc, err := t.configs(kids, w)
	if err != nil {
		return err
	}
	w.scopes = append(w.scopes[:len(w.scopes):len(w.scopes)], sc)
	for _, k := range kids {
		if !k.enabled {
			continue
		}
		kw := w.at(k.name)
		var err error
		switch {
		case isSampler(k.class):
			err = t.sampler(k, kw)
		case isController(k.class):
			err = t.controller(k, kw)
		case isThreadGroup(k.class):
			t.note(kw.String(), "a thread group inside another element never runs")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// configs reads the elements of one level that are neither samplers nor
// controllers, and notes those rolltest does not carry over.
func (t *translator) configs(kids []*element, w walk) (*scope, error) {
	sc := &scope{fields: map[string]string{}}
	for _, k := range kids {
		if !k.enabled || isSampler(k.class) || isController(k.class) || isThreadGroup(k.class) {
			continue
		}
		path := w.at(k.name).String()
		switch {
		case k.class == "ConfigTestElement" && k.gui == "HttpDefaultsGui":
			for _, f := range defaultFields() {
				if v := str(k.props, f); v != "" && sc.fields[f] == "" {
					sc.fields[f] = v
				}
			}
			a := httpArgs(k.props)
			sc.args = append(sc.args, a...)
			sc.cost += 1 + len(a)
		case k.class == "HeaderManager":
			for _, h := range items(k.props, "HeaderManager.headers") {
				if name := strings.TrimSpace(str(h, "Header.name")); name != "" {
					sc.headers = append(sc.headers, Header{Name: name, Value: str(h, "Header.value")})
					sc.keys = append(sc.keys, strings.ToLower(name))
				}
			}
			sc.cost += 1 + len(sc.headers)
		case k.class == "CSVDataSet":
			d, err := t.loadCSV(k, path)
			if err != nil {
				return nil, err
			}
			if d == nil {
				break
			}
			sc.csvs = append(sc.csvs, d)
			sc.cost += 1 + len(d.vars)
		case k.class == "Arguments":
			// Defined before the walk: see userVariables.
		case k.class == "ResponseAssertion":
			if err := t.responseAssertion(k, path, w); err != nil {
				return nil, err
			}
		case k.class == "DurationAssertion":
			ms, err := t.intProp(k.props, "DurationAssertion.duration", path, 0)
			if err != nil {
				return nil, err
			}
			if ms > 0 && (t.maxDurMs == 0 || int64(ms) < t.maxDurMs) {
				t.maxDurMs = int64(ms)
			}
			if w.g != nil && len(w.scopes) > 1 {
				t.note(path, "scoped to part of the plan in JMeter: rolltest's latency gate covers every request")
			}
		case k.class == "ConstantThroughputTimer":
			if err := t.constantThroughput(k, path, w); err != nil {
				return nil, err
			}
		case k.class == "PreciseThroughputTimer":
			if err := t.preciseThroughput(k, path, w); err != nil {
				return nil, err
			}
		default:
			t.note(path, unsupported(k.class))
		}
	}
	return sc, nil
}

// unsupported says why an element that is not carried over is not.
func unsupported(class string) string {
	switch {
	case isListener(class):
		return "not needed: rolltest reports itself"
	case strings.HasPrefix(class, "BeanShell") || strings.HasPrefix(class, "JSR223"):
		return "not supported (scripted)"
	case isExtractor(class):
		return "not supported: rolltest does not extract values from responses"
	case strings.HasSuffix(class, "Timer") || class == "Synchronizer":
		return "not carried over: rolltest paces by --rate or --concurrency, not by think time"
	case class == "CookieManager":
		return "not supported: rolltest sends no cookies"
	case class == "CacheManager":
		return "not supported: rolltest caches nothing, every request reaches the server"
	case class == "AuthManager":
		return "not supported: set an Authorization header in a Header Manager instead"
	case class == "DNSCacheManager":
		return "not supported: rolltest resolves names through the system"
	case strings.HasSuffix(class, "Assertion"):
		return "not supported: rolltest checks the response code and a body substring only"
	}
	return "not supported (" + class + ")"
}

func isListener(class string) bool {
	switch class {
	case "ResultCollector", "BackendListener", "Summariser", "ResultSaver",
		"kg.apc.jmeter.vizualizers.CorrectedResultCollector", "kg.apc.jmeter.reporters.FlexibleFileWriter":
		return true
	}
	return false
}

func isExtractor(class string) bool {
	switch class {
	case "RegexExtractor", "JSONPostProcessor", "BoundaryExtractor", "XPathExtractor",
		"XPath2Extractor", "HtmlExtractor", "JMESPathExtractor", "DebugPostProcessor":
		return true
	}
	return false
}

func isThreadGroup(class string) bool { return strings.HasSuffix(class, "ThreadGroup") }

func isSampler(class string) bool {
	return strings.HasSuffix(class, "Sampler") || strings.HasSuffix(class, "Sampler2") ||
		strings.HasSuffix(class, "SamplerProxy") || class == "TestAction"
}

func isController(class string) bool {
	return strings.HasSuffix(class, "Controller") || strings.HasSuffix(class, "Control") || class == "RunTime"
}

// controller flattens a logic controller into its children, scaling their
// weights by how often JMeter runs them per iteration of the thread group.
func (t *translator) controller(el *element, w walk) error {
	path := w.String()
	switch el.class {
	case "GenericController", "RecordingController", "RandomOrderController":
		// Every child once per pass, the order aside: exact.
	case "TransactionController":
		t.note(path, "flattened: the transaction's own sample is not reported, its requests are")
	case "LoopController":
		n, err := t.intProp(el.props, "LoopController.loops", path, 1)
		if err != nil {
			return err
		}
		switch {
		case n == 0:
			t.note(path, "loops 0: its children never run")
			return nil
		case n < 0:
			t.note(path, "loops forever in JMeter, starving what follows it: flattened at one pass")
			w.loop = -1
		default:
			w.mult = new(big.Rat).Mul(w.mult, big.NewRat(int64(n), 1))
			w.loop = n
		}
	case "OnceOnlyController":
		if w.loop < 0 {
			t.note(path, "runs once per thread: left out of the steady-state mix")
			return nil
		}
		w.mult = new(big.Rat).Quo(w.mult, big.NewRat(int64(w.loop), 1))
		t.note(path, "runs once per thread: kept at that share of the mix, but spread over the run")
	case "IfController":
		t.note(path, "condition not evaluated: its children are always sent")
	case "WhileController":
		t.note(path, "condition not evaluated: its children are sent once per pass")
	case "SwitchController", "RandomController", "InterleaveControl":
		n := 0
		for _, k := range el.kids {
			if k.enabled && (isSampler(k.class) || isController(k.class)) {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		// One child per pass: each child's share is 1/n, exactly so for the
		// random and interleave controllers.
		w.mult = new(big.Rat).Quo(w.mult, big.NewRat(int64(n), 1))
		if el.class == "SwitchController" {
			t.note(path, "switch value not evaluated: its children share its turn equally")
		}
	case "ThroughputController":
		style, err := t.intProp(el.props, "ThroughputController.style", path, 1)
		if err != nil {
			return err
		}
		if style == 1 {
			pct, err := t.floatProp(el.props, "ThroughputController.percentThroughput", path)
			if err != nil {
				return err
			}
			r := new(big.Rat)
			r.SetFloat64(pct / 100)
			w.mult = new(big.Rat).Mul(w.mult, r)
		} else {
			t.note(path, "total-executions limit not kept: its children are sent at their full share")
		}
	case "RunTime":
		t.note(path, "run time not kept: its children are sent once per pass")
	case "CriticalSectionController":
		t.note(path, "lock not kept: flattened")
	case "ForeachController":
		t.note(path, "not supported: it loops over variables a script or extractor sets; its children are left out")
		return nil
	case "ModuleController", "IncludeController":
		t.note(path, "not supported: it runs another part of the plan or another file; left out")
		return nil
	default:
		t.note(path, "not supported ("+el.class+"): its children are left out")
		return nil
	}
	return t.children(el.kids, w)
}

func (t *translator) constantThroughput(el *element, path string, w walk) error {
	perMin, err := t.floatProp(el.props, "throughput", path)
	if err != nil {
		return err
	}
	mode := strings.TrimSpace(str(el.props, "calcMode"))
	rt := rateTimer{perSec: perMin / 60, group: w.gi}
	var how string
	switch mode {
	case "0", "this thread only", "":
		rt.per, how = perThread, "per thread"
	case "1", "3", "all active threads", "all active threads (shared)":
		rt.per, how = perTotal, "for all threads"
	case "2", "4", "all active threads in current thread group", "all active threads in current thread group (shared)":
		rt.per, how = perGroup, "per thread group"
	default:
		return fmt.Errorf("%s: calcMode %q is not one JMeter writes", path, mode)
	}
	t.timers = append(t.timers, rt)
	msg := fmt.Sprintf("%g/min %s carried over as --rate; JMeter delays each thread's samples to meet it, rolltest sends at that rate whatever the response times", perMin, how)
	if rt.per == perThread {
		msg += " (\"this thread only\": multiplied by the threads, assuming each keeps up)"
	}
	t.note(path, msg)
	return nil
}

func (t *translator) preciseThroughput(el *element, path string, w walk) error {
	n, err := t.floatProp(el.props, "throughput", path)
	if err != nil {
		return err
	}
	period, err := t.floatProp(el.props, "throughputPeriod", path)
	if err != nil {
		return err
	}
	if period <= 0 {
		return fmt.Errorf("%s: throughputPeriod must be positive", path)
	}
	t.timers = append(t.timers, rateTimer{perSec: n / period, per: perGroup, group: w.gi})
	t.note(path, fmt.Sprintf("%g per %gs carried over as --rate, evenly spaced rather than Poisson", n, period))
	return nil
}

// Response Assertion test types, bits of Assertion.test_type.
const (
	testMatch     = 1
	testContains  = 2
	testNot       = 4
	testEquals    = 8
	testSubstring = 16
)

var regexMeta = regexp.MustCompile(`[\\.+*?()|\[\]{}^$]`)

func (t *translator) responseAssertion(el *element, path string, w walk) error {
	typ, err := t.intProp(el.props, "Assertion.test_type", path, testSubstring)
	if err != nil {
		return err
	}
	var strs []string
	for _, s := range items(el.props, "Asserion.test_strings") {
		v, err := t.expand(string(s.text), path, nil)
		if err != nil {
			return err
		}
		strs = append(strs, v)
	}
	if str(el.props, "Assertion.assume_success") == "true" {
		t.note(path, "\"ignore status\" not supported: rolltest counts every non-2xx as a failure")
	}
	if typ&testNot != 0 {
		t.note(path, "negated assertion not supported")
		return nil
	}
	if w.g != nil && len(w.scopes) > 1 {
		t.note(path, "scoped to part of the plan in JMeter: rolltest checks every response")
	}
	switch field := str(el.props, "Assertion.test_field"); field {
	case "Assertion.response_code":
		for _, s := range strs {
			code, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || code < 100 || code > 599 {
				t.note(path, fmt.Sprintf("response code pattern %q not carried over: only exact codes are", s))
				continue
			}
			if !slices.Contains(t.statuses, code) {
				t.statuses = append(t.statuses, code)
			}
		}
	case "Assertion.response_data", "Assertion.response_data_as_document":
		for _, s := range strs {
			switch {
			case typ&(testContains|testSubstring) == 0:
				t.note(path, fmt.Sprintf("body %s %q not supported: only \"contains\" and \"substring\" are", testName(typ), s))
			case typ&testContains != 0 && regexMeta.MatchString(s):
				t.note(path, fmt.Sprintf("regular expression %q not supported: only plain text is", s))
			case t.expectBody == "" || t.expectBody == s:
				t.expectBody = s
			default:
				t.note(path, fmt.Sprintf("body text %q not carried over: rolltest checks one text, %q", s, t.expectBody))
			}
		}
	default:
		t.note(path, "not supported: rolltest checks the response code and a body substring only")
	}
	return nil
}

func testName(typ int) string {
	switch {
	case typ&testEquals != 0:
		return "equals"
	case typ&testMatch != 0:
		return "matches"
	}
	return "test " + strconv.Itoa(typ)
}

// sampler turns an HTTP sampler into requests: one, or one per CSV row
// when it uses the variables of a CSV Data Set Config in scope.
func (t *translator) sampler(el *element, w walk) error {
	path := w.String()
	if el.class != "HTTPSamplerProxy" && el.class != "HTTPSampler" && el.class != "HTTPSampler2" {
		switch {
		case strings.HasPrefix(el.class, "BeanShell") || strings.HasPrefix(el.class, "JSR223"):
			t.note(path, "not supported (scripted)")
		case el.class == "TestAction":
			t.note(path, "not carried over: rolltest paces by --rate or --concurrency")
		default:
			t.note(path, "not supported: rolltest sends HTTP requests only")
		}
		return nil
	}
	if w.g == nil {
		return nil
	}
	sc, err := t.configs(el.kids, w)
	if err != nil {
		return err
	}
	for _, k := range el.kids {
		if k.enabled && (isSampler(k.class) || isController(k.class)) {
			t.note(w.at(k.name).String(), "under a sampler: never runs")
		}
	}
	w.scopes = append(w.scopes[:len(w.scopes):len(w.scopes)], sc)
	s := httpSampler{el: el, scopes: w.scopes}
	if err := t.charge(s, path); err != nil {
		return err
	}
	csvs := t.csvsUsed(s)
	if len(csvs) == 0 {
		return t.addRequest(s, w, nil, w.mult)
	}
	rows := 0
	for _, d := range csvs {
		rows = max(rows, len(d.rows))
	}
	if rows == 0 {
		t.note(path, "its CSV file has no rows: variables sent verbatim")
		return t.addRequest(s, w, nil, w.mult)
	}
	share := new(big.Rat).Quo(w.mult, big.NewRat(int64(rows), 1))
	for i := range rows {
		// JMeter's threads advance every CSV file a step per use, so files
		// of different lengths pair up row by row, wrapping around.
		row := map[string]string{}
		for _, d := range csvs {
			r := d.rows[i%len(d.rows)]
			for j, v := range d.vars {
				if j < len(r) {
					row[v] = r[j]
				} else {
					row[v] = ""
				}
			}
		}
		if err := t.addRequest(s, w, row, share); err != nil {
			return err
		}
	}
	return nil
}

type httpSampler struct {
	el     *element
	scopes []*scope
}

// field is the sampler's own value of an HTTP property, or the nearest
// HTTP Request Defaults' value when the sampler leaves it empty.
func (s httpSampler) field(name string) string {
	if v := str(s.el.props, name); v != "" {
		return v
	}
	for i := len(s.scopes) - 1; i >= 0; i-- {
		if v := s.scopes[i].fields[name]; v != "" {
			return v
		}
	}
	return ""
}

type argument struct {
	name, value    string
	encode, equals bool
}

// args are the sampler's arguments, then those of the defaults in scope,
// which JMeter adds to every sampler.
func (s httpSampler) args() []argument {
	out := httpArgs(s.el.props)
	for i := len(s.scopes) - 1; i >= 0; i-- {
		out = append(out, s.scopes[i].args...)
	}
	return out
}

// httpArgs are the arguments of a sampler or HTTP Request Defaults.
func httpArgs(n *node) []argument {
	var out []argument
	for _, a := range items(prop(n, "HTTPsampler.Arguments"), "Arguments.arguments") {
		out = append(out, argument{
			name:   str(a, "Argument.name"),
			value:  str(a, "Argument.value"),
			encode: str(a, "HTTPArgument.always_encode") != "false",
			equals: str(a, "HTTPArgument.use_equals") != "false",
		})
	}
	return out
}

// headers merge the Header Managers in scope, the nearest winning on a
// name; the sampler's own come last.
func (s httpSampler) headers() []Header {
	var out []Header
	at := map[string]int{} // lower-case name → index in out
	for _, sc := range s.scopes {
		for j, h := range sc.headers {
			key := sc.keys[j]
			if i, ok := at[key]; ok {
				out[i] = h
			} else {
				at[key] = len(out)
				out = append(out, h)
			}
		}
	}
	return out
}

// texts are every string of the sampler that substitution applies to.
func (s httpSampler) texts() []string {
	out := []string{s.field("HTTPSampler.protocol"), s.field("HTTPSampler.domain"), s.field("HTTPSampler.port"), s.field("HTTPSampler.path")}
	for _, a := range s.args() {
		out = append(out, a.name, a.value)
	}
	for _, h := range s.headers() {
		out = append(out, h.Value)
	}
	return out
}

// csvsUsed are the CSV Data Set Configs in scope whose variables the
// sampler refers to.
func (t *translator) csvsUsed(s httpSampler) []*csvData {
	refs := map[string]bool{}
	for _, txt := range s.texts() {
		t.work += len(txt)
		for name := range references(txt) {
			refs[name] = true
		}
	}
	var used []*csvData
	for _, sc := range s.scopes {
		for _, d := range sc.csvs {
			if slices.ContainsFunc(d.vars, func(v string) bool { return refs[v] }) {
				used = append(used, d)
			}
		}
	}
	return used
}

// references yields the names of the plain ${name} references in s, those
// inside function arguments too, in one pass over s.
func references(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for {
			i := strings.Index(s, "${")
			if i < 0 {
				return
			}
			s = s[i+2:]
			end := strings.IndexAny(s, "${}")
			if end < 0 {
				return
			}
			if s[end] == '}' && !yield(s[:end]) {
				return
			}
			s = s[end:]
		}
	}
}

func (t *translator) addRequest(s httpSampler, w walk, row map[string]string, weight *big.Rat) error {
	path := w.String()
	if t.nreq++; t.nreq > maxRequests {
		return fmt.Errorf("%s: the plan expands to more than %d requests", path, maxRequests)
	}
	if err := t.charge(s, path); err != nil {
		return err
	}
	x := func(v string) (string, error) { return t.expand(v, path, row) }
	var f [5]string
	for i, name := range []string{"HTTPSampler.protocol", "HTTPSampler.domain", "HTTPSampler.port", "HTTPSampler.path", "HTTPSampler.method"} {
		v := s.field(name)
		if name == "HTTPSampler.method" {
			v = str(s.el.props, name)
		}
		var err error
		if f[i], err = x(strings.TrimSpace(v)); err != nil {
			return err
		}
	}
	scheme, host, port, p, method := strings.ToLower(f[0]), f[1], f[2], f[3], strings.ToUpper(f[4])
	if method == "" {
		method = "GET"
	}
	if scheme == "" {
		scheme = "http"
	}
	var u string
	if lp := strings.ToLower(p); strings.HasPrefix(lp, "http://") || strings.HasPrefix(lp, "https://") {
		u = p
	} else {
		if host == "" {
			t.note(path, "no server name, in the sampler or HTTP Request Defaults: left out")
			return nil
		}
		if port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				t.note(path, fmt.Sprintf("port %q is not a port number: left out", port))
				return nil
			}
			host += ":" + port
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		u = scheme + "://" + host + p
	}
	req := Request{Name: s.el.name, Method: method}
	var form []string
	var raw strings.Builder
	postRaw := str(s.el.props, "HTTPSampler.postBodyRaw") == "true"
	for _, a := range s.args() {
		name, err := x(a.name)
		if err != nil {
			return err
		}
		value, err := x(a.value)
		if err != nil {
			return err
		}
		switch {
		case postRaw:
			raw.WriteString(value)
		case method == "POST" || method == "PUT" || method == "PATCH":
			form = append(form, pair(url.QueryEscape(name), url.QueryEscape(value), a.equals))
		case a.encode:
			form = append(form, pair(url.QueryEscape(name), url.QueryEscape(value), a.equals))
		default:
			form = append(form, pair(escapeLoose(name), escapeLoose(value), a.equals))
		}
	}
	for _, h := range s.headers() {
		v, err := x(h.Value)
		if err != nil {
			return err
		}
		req.Header = append(req.Header, Header{Name: h.Name, Value: v})
	}
	switch {
	case postRaw:
		req.Body = []byte(raw.String())
	case len(form) > 0 && (method == "POST" || method == "PUT" || method == "PATCH"):
		req.Body = []byte(strings.Join(form, "&"))
		if !slices.ContainsFunc(req.Header, func(h Header) bool { return strings.EqualFold(h.Name, "Content-Type") }) {
			req.Header = append(req.Header, Header{Name: "Content-Type", Value: "application/x-www-form-urlencoded"})
		}
	case len(form) > 0:
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + strings.Join(form, "&")
	}
	if _, err := url.Parse(u); err != nil {
		t.note(path, fmt.Sprintf("URL %q is not valid: left out", u))
		return nil
	}
	req.URL = u
	if str(s.el.props, "HTTPSampler.DO_MULTIPART_POST") == "true" {
		t.note(path, "multipart not supported: sent as a url-encoded form")
	}
	if len(items(prop(s.el.props, "HTTPsampler.Files"), "HTTPFileArgs.files")) > 0 {
		t.note(path, "file upload not supported: files are not sent")
	}
	if str(s.el.props, "HTTPSampler.image_parser") == "true" {
		t.note(path, "embedded resources not fetched: only the request itself is sent")
	}
	if err := t.samplerTimeout(s, path); err != nil {
		return err
	}
	w.g.reqs = append(w.g.reqs, weighted{req: req, w: weight, path: path})
	return nil
}

// charge counts what looking up sampler s's scope costs against maxWork.
func (t *translator) charge(s httpSampler, path string) error {
	t.work += 1 + len(s.scopes)
	for _, sc := range s.scopes {
		t.work += sc.cost
	}
	if t.work > maxWork {
		return fmt.Errorf("%s: the plan is too large to translate: its samplers look up more than %d arguments, headers and variables", path, maxWork)
	}
	return nil
}

// samplerTimeout keeps the longest connect plus response timeout: rolltest
// has one timeout, from dialling to the last byte.
func (t *translator) samplerTimeout(s httpSampler, path string) error {
	var total time.Duration
	for _, name := range []string{"HTTPSampler.connect_timeout", "HTTPSampler.response_timeout"} {
		v, err := t.expand(strings.TrimSpace(s.field(name)), path, nil)
		if err != nil {
			return err
		}
		if v == "" {
			continue
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 || ms > int64(24*time.Hour/time.Millisecond) {
			return fmt.Errorf("%s: %s %q is not a number of milliseconds", path, name, v)
		}
		total += time.Duration(ms) * time.Millisecond
	}
	t.timeout = max(t.timeout, total)
	return nil
}

func pair(name, value string, equals bool) string {
	if !equals && value == "" {
		return name
	}
	return name + "=" + value
}

// escapeLoose escapes what cannot stand in a query (spaces, controls,
// non-ASCII, '#', '&'…) but keeps what the author already escaped: JMeter
// sends arguments without "URL Encode?" as written.
func escapeLoose(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("#&\"<>\\^`{|}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// result sums the thread groups into one Plan.
func (t *translator) result(top *element) (*Plan, error) {
	p := &Plan{Name: top.name, Loops: t.groups[0].loops, Timeout: t.timeout,
		ExpectStatus: t.statuses, ExpectBody: t.expectBody, MaxDurationMs: t.maxDurMs}
	if len(t.groups) > 1 {
		t.note(top.name, fmt.Sprintf("%d thread groups: rolltest runs their threads as one pool, all at once", len(t.groups)))
	}
	total := new(big.Rat)
	bounded := true
	var shares []*big.Rat
	var reqs []weighted
	for _, g := range t.groups {
		p.Threads += g.threads
		p.RampUp = max(p.RampUp, g.rampUp)
		p.Duration = max(p.Duration, g.duration)
		if g.loops < 0 || p.Loops < 0 {
			p.Loops = -1
		} else {
			p.Loops = max(p.Loops, g.loops)
		}
		if g.threads == 0 {
			t.note(g.path, "0 threads: sends nothing")
			continue
		}
		perIter := new(big.Rat)
		for _, r := range g.reqs {
			perIter.Add(perIter, r.w)
		}
		if perIter.Sign() == 0 {
			t.note(g.path, "no HTTP request to carry over")
			continue
		}
		if g.loops < 0 || g.duration > 0 {
			bounded = false
		} else {
			n := new(big.Int).Mul(big.NewInt(int64(g.threads)), big.NewInt(int64(g.loops)))
			total.Add(total, new(big.Rat).Mul(perIter, new(big.Rat).SetInt(n)))
		}
		// Each thread cycles through its group's iteration, so a request's
		// share of all requests is its group's threads times its share of
		// one iteration.
		for _, r := range g.reqs {
			s := new(big.Rat).Mul(r.w, big.NewRat(int64(g.threads), 1))
			shares = append(shares, s.Quo(s, perIter))
			reqs = append(reqs, r)
		}
	}
	if bounded && total.Sign() > 0 {
		n := new(big.Int).Quo(new(big.Int).Add(total.Num(), new(big.Int).Quo(total.Denom(), big.NewInt(2))), total.Denom())
		if n.IsInt64() {
			p.Total = n.Int64()
		}
	}
	weights, exact := intWeights(shares)
	if !exact {
		t.note(top.name, "request weights rounded: their exact proportions need numbers too large")
	}
	for i, r := range reqs {
		if weights[i] == 0 {
			t.note(r.path, "sent 0% of the time: left out")
			continue
		}
		r.req.Weight = weights[i]
		p.Requests = append(p.Requests, r.req)
	}
	for _, rt := range t.timers {
		f := 1.0
		switch {
		case rt.per == perThread && rt.group >= 0:
			f = float64(t.groups[rt.group].threads)
		case rt.per == perThread:
			f = float64(p.Threads)
		case rt.per == perGroup && rt.group < 0:
			f = float64(len(t.groups))
		}
		p.Rate += rt.perSec * f
	}
	p.Unsupported = t.notes
	return p, nil
}

// maxWeight bounds a weight so that the CLI can sum them in an int.
const maxWeight = 1_000_000

// intWeights turns shares into whole weights with the same proportions,
// as small as they can be, and rounds them only when exact ones would
// exceed maxWeight.
func intWeights(shares []*big.Rat) ([]int, bool) {
	out := make([]int, len(shares))
	if len(shares) == 0 {
		return out, true
	}
	lcm := big.NewInt(1)
	for _, s := range shares {
		d := s.Denom()
		g := new(big.Int).GCD(nil, nil, lcm, d)
		lcm.Mul(lcm, new(big.Int).Quo(d, g))
	}
	ints := make([]*big.Int, len(shares))
	g := new(big.Int)
	for i, s := range shares {
		ints[i] = new(big.Int).Quo(new(big.Int).Mul(s.Num(), lcm), s.Denom())
		g.GCD(nil, nil, g, ints[i])
	}
	exact := true
	limit := big.NewInt(maxWeight)
	for i := range ints {
		if g.Sign() > 0 {
			ints[i].Quo(ints[i], g)
		}
		if ints[i].Cmp(limit) > 0 {
			exact = false
		}
	}
	if exact {
		for i, n := range ints {
			out[i] = int(n.Int64())
		}
		return out, true
	}
	top := new(big.Rat)
	for _, s := range shares {
		if s.Cmp(top) > 0 {
			top = s
		}
	}
	for i, s := range shares {
		f, _ := new(big.Rat).Quo(s, top).Float64()
		out[i] = max(1, int(f*maxWeight+0.5))
	}
	return out, false
}
