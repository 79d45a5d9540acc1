package jmx

import (
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// plan wraps body, the children of one thread group, in a JMeter 5.6 test
// plan with threads threads and loops loops.
func plan(threads, loops, body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3"><hashTree>
<TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="P">
  <elementProp name="TestPlan.user_defined_variables" elementType="Arguments"><collectionProp name="Arguments.arguments">
    <elementProp name="h" elementType="Argument"><stringProp name="Argument.name">h</stringProp><stringProp name="Argument.value">svc</stringProp></elementProp>
  </collectionProp></elementProp>
</TestPlan><hashTree>
<ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="G">
  <stringProp name="ThreadGroup.num_threads">` + threads + `</stringProp>
  <elementProp name="ThreadGroup.main_controller" elementType="LoopController"><stringProp name="LoopController.loops">` + loops + `</stringProp></elementProp>
</ThreadGroup><hashTree>` + body + `</hashTree>
</hashTree></hashTree></jmeterTestPlan>`
}

// get is an HTTP sampler for path with extra properties and children.
func get(name, path, props, kids string) string {
	return `<HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="` + name + `"><stringProp name="HTTPSampler.path">` + path +
		`</stringProp>` + props + `</HTTPSamplerProxy><hashTree>` + kids + `</hashTree>`
}

func defaults(name, props string) string {
	return `<ConfigTestElement guiclass="HttpDefaultsGui" testclass="ConfigTestElement" testname="` + name + `">` + props + `</ConfigTestElement><hashTree/>`
}

func headers(name string, kv ...string) string {
	s := `<HeaderManager testclass="HeaderManager" testname="` + name + `"><collectionProp name="HeaderManager.headers">`
	for i := 0; i < len(kv); i += 2 {
		s += `<elementProp name="" elementType="Header"><stringProp name="Header.name">` + kv[i] + `</stringProp><stringProp name="Header.value">` + kv[i+1] + `</stringProp></elementProp>`
	}
	return s + `</collectionProp></HeaderManager><hashTree/>`
}

func controller(class, name, props, kids string) string {
	return `<` + class + ` testclass="` + class + `" testname="` + name + `">` + props + `</` + class + `><hashTree>` + kids + `</hashTree>`
}

func sp(name, value string) string {
	return `<stringProp name="` + name + `">` + value + `</stringProp>`
}

func mustParse(t *testing.T, doc string) *Plan {
	t.Helper()
	p, err := Parse(strings.NewReader(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type reqSummary struct {
	name, url string
	weight    int
}

func summarize(p *Plan) []reqSummary {
	var out []reqSummary
	for _, r := range p.Requests {
		out = append(out, reqSummary{r.Name, r.URL, r.Weight})
	}
	return out
}

func hasNote(p *Plan, path, msgPart string) bool {
	return slices.ContainsFunc(p.Unsupported, func(n Note) bool { return n.Path == path && strings.Contains(n.Msg, msgPart) })
}

// TestTranslate: scoping of defaults and headers, and the weights each
// controller gives its children.
func TestTranslate(t *testing.T) {
	dom := defaults("D", sp("HTTPSampler.domain", "${h}")+sp("HTTPSampler.port", "81"))
	tests := []struct {
		name    string
		threads string
		loops   string
		body    string
		want    []reqSummary
		note    [2]string // a note that must be there: path, part of message
	}{
		{
			name: "nearest defaults win, outer ones fill the rest", threads: "1", loops: "1",
			body: dom + controller("GenericController", "S", "",
				defaults("D2", sp("HTTPSampler.domain", "inner")+sp("HTTPSampler.protocol", "https"))+get("a", "/a", "", "")) +
				get("b", "/b", "", ""),
			want: []reqSummary{{"a", "https://inner:81/a", 1}, {"b", "http://svc:81/b", 1}},
		},
		{
			name: "a sampler's own fields beat the defaults", threads: "1", loops: "1",
			body: dom + get("a", "http://full.example/x", "", "") + get("b", "y", sp("HTTPSampler.domain", "own"), ""),
			want: []reqSummary{{"a", "http://full.example/x", 1}, {"b", "http://own:81/y", 1}},
		},
		{
			name: "loop controller multiplies, nested loops compound", threads: "1", loops: "1",
			body: dom + get("once", "/1", "", "") + controller("LoopController", "L", sp("LoopController.loops", "3"),
				get("thrice", "/3", "", "")+controller("LoopController", "L2", sp("LoopController.loops", "2"), get("six", "/6", "", ""))),
			want: []reqSummary{{"once", "http://svc:81/1", 1}, {"thrice", "http://svc:81/3", 3}, {"six", "http://svc:81/6", 6}},
		},
		{
			name: "once only is 1/loops of the thread group", threads: "1", loops: "4",
			body: dom + get("each", "/e", "", "") + controller("OnceOnlyController", "O", "", get("login", "/l", "", "")),
			want: []reqSummary{{"each", "http://svc:81/e", 4}, {"login", "http://svc:81/l", 1}},
			note: [2]string{"P › G › O", "once per thread"},
		},
		{
			name: "once only under a forever thread group is left out", threads: "1", loops: "-1",
			body: dom + get("each", "/e", "", "") + controller("OnceOnlyController", "O", "", get("login", "/l", "", "")),
			want: []reqSummary{{"each", "http://svc:81/e", 1}},
			note: [2]string{"P › G › O", "left out"},
		},
		{
			name: "random controller splits its turn", threads: "1", loops: "1",
			body: dom + get("x", "/x", "", "") + controller("RandomController", "R", "", get("a", "/a", "", "")+get("b", "/b", "", "")),
			want: []reqSummary{{"x", "http://svc:81/x", 2}, {"a", "http://svc:81/a", 1}, {"b", "http://svc:81/b", 1}},
		},
		{
			name: "disabled elements and their subtrees are skipped", threads: "1", loops: "1",
			body: dom + get("on", "/on", "", "") +
				`<HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="off" enabled="false"/><hashTree/>` +
				`<GenericController testclass="GenericController" testname="C" enabled="false"/><hashTree>` + get("inner", "/in", "", "") + `</hashTree>`,
			want: []reqSummary{{"on", "http://svc:81/on", 1}},
		},
		{
			name: "foreach is left out with a note", threads: "1", loops: "1",
			body: dom + get("x", "/x", "", "") + controller("ForeachController", "F", "", get("a", "/a", "", "")),
			want: []reqSummary{{"x", "http://svc:81/x", 1}},
			note: [2]string{"P › G › F", "not supported"},
		},
		{
			name: "a sampler without a server is left out with a note", threads: "1", loops: "1",
			body: get("x", "/x", "", "") + get("y", "/y", sp("HTTPSampler.domain", "h"), ""),
			want: []reqSummary{{"y", "http://h/y", 1}},
			note: [2]string{"P › G › x", "no server name"},
		},
		{
			name: "throughput controller scales by its percentage, 0% is left out with a note", threads: "1", loops: "1",
			body: dom + get("x", "/x", "", "") +
				controller("ThroughputController", "T", `<intProp name="ThroughputController.style">1</intProp><FloatProperty><name>ThroughputController.percentThroughput</name><value>12.5</value></FloatProperty>`, get("a", "/a", "", "")) +
				controller("ThroughputController", "Z", `<intProp name="ThroughputController.style">1</intProp><FloatProperty><name>ThroughputController.percentThroughput</name><value>0</value></FloatProperty>`, get("z", "/z", "", "")),
			want: []reqSummary{{"x", "http://svc:81/x", 8}, {"a", "http://svc:81/a", 1}},
			note: [2]string{"P › G › Z › z", "0%"},
		},
		{
			name: "a group's threads do not change its proportions", threads: "3", loops: "1",
			body: dom + get("a", "/a", "", "") + get("b", "/b", "", "") + get("c", "/c", "", ""),
			want: []reqSummary{{"a", "http://svc:81/a", 1}, {"b", "http://svc:81/b", 1}, {"c", "http://svc:81/c", 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, plan(tt.threads, tt.loops, tt.body))
			if got := summarize(p); !slices.Equal(got, tt.want) {
				t.Errorf("requests\n got %v\nwant %v\nnotes %v", got, tt.want, p.Unsupported)
			}
			if tt.note[0] != "" && !hasNote(p, tt.note[0], tt.note[1]) {
				t.Errorf("no note %q at %q in %v", tt.note[1], tt.note[0], p.Unsupported)
			}
		})
	}
}

// TestHeaderScope: the nearest Header Manager wins on a name, and one under
// a sampler applies to that sampler only.
func TestHeaderScope(t *testing.T) {
	dom := defaults("D", sp("HTTPSampler.domain", "h"))
	body := dom + headers("outer", "Accept", "*/*", "X-A", "1") +
		controller("GenericController", "C", "", headers("mid", "x-a", "2")+
			get("a", "/a", "", headers("own", "ACCEPT", "text/plain"))+get("b", "/b", "", ""))
	p := mustParse(t, plan("1", "1", body))
	want := map[string][]Header{
		"a": {{"ACCEPT", "text/plain"}, {"x-a", "2"}},
		"b": {{"Accept", "*/*"}, {"x-a", "2"}},
	}
	for _, r := range p.Requests {
		if !slices.Equal(r.Header, want[r.Name]) {
			t.Errorf("%s: headers %v, want %v", r.Name, r.Header, want[r.Name])
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		in, want string
		noted    bool
	}{
		{"plain", "plain", false},
		{"${h}:${h}", "svc:svc", false},
		{"${__P(port,8080)}", "8080", true},
		{"${__P(port)}", "1", true},
		{`${__P(list,a\,b)}`, "a,b", true},
		{"${__P(${h},d)}", "d", true},
		{"${__Random(1,9)}", "${__Random(1,9)}", true},
		{"${__time}", "${__time}", true},
		{"${nope}", "${nope}", true},
		{"${row}", "r", false},
		{"open ${h", "open ${h", false},
		{"${}", "${}", true},
	}
	for _, tt := range tests {
		tr := newTranslator("")
		tr.vars["h"] = "svc"
		got, err := tr.expand(tt.in, "p", map[string]string{"row": "r"})
		if err != nil {
			t.Fatalf("expand(%q): %v", tt.in, err)
		}
		if got != tt.want || (len(tr.notes) > 0) != tt.noted {
			t.Errorf("expand(%q) = %q with notes %v, want %q (noted %v)", tt.in, got, tr.notes, tt.want, tt.noted)
		}
	}
}

// TestExpandBounded: variables that double at each definition stop at
// maxExpanded instead of exhausting memory.
func TestExpandBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<elementProp name="v0" elementType="Argument"><stringProp name="Argument.name">v0</stringProp><stringProp name="Argument.value">xxxxxxxxxxxxxxxx</stringProp></elementProp>`)
	for i := 1; i < 40; i++ {
		n, prev := "v"+itoa(i), "${v"+itoa(i-1)+"}"
		b.WriteString(`<elementProp name="` + n + `" elementType="Argument"><stringProp name="Argument.name">` + n + `</stringProp><stringProp name="Argument.value">` + prev + prev + `</stringProp></elementProp>`)
	}
	doc := strings.Replace(plan("1", "1", get("a", "/", sp("HTTPSampler.domain", "h"), "")),
		`<collectionProp name="Arguments.arguments">`, `<collectionProp name="Arguments.arguments">`+b.String(), 1)
	_, err := Parse(strings.NewReader(doc), "")
	if err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("err = %v, want the substitution limit", err)
	}
}

// TestWorkBounded: many headers, or many default arguments, repeated over
// many samplers stop at a limit quickly instead of taking minutes.
func TestWorkBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and parses plans of megabytes")
	}
	var args, hdrs, samplers strings.Builder
	for i := range 5000 {
		args.WriteString(`<elementProp name="" elementType="HTTPArgument"><stringProp name="Argument.name">a` + itoa(i) + `</stringProp></elementProp>`)
		hdrs.WriteString(`<elementProp name="" elementType="Header"><stringProp name="Header.name">X</stringProp></elementProp>`)
		samplers.WriteString(get("s", "/", "", ""))
	}
	withArgs := defaults("D", sp("HTTPSampler.domain", "h")+`<elementProp name="HTTPsampler.Arguments" elementType="Arguments"><collectionProp name="Arguments.arguments">`+
		args.String()+`</collectionProp></elementProp>`)
	withHeaders := defaults("D", sp("HTTPSampler.domain", "h")) +
		`<HeaderManager testclass="HeaderManager" testname="H"><collectionProp name="HeaderManager.headers">` + hdrs.String() + `</collectionProp></HeaderManager><hashTree/>`
	for _, tt := range []struct{ name, body, want string }{
		{"arguments", withArgs, "too large to translate"},
		{"headers", withHeaders, "too large to translate"},
	} {
		start := time.Now()
		_, err := Parse(strings.NewReader(plan("1", "1", tt.body+samplers.String())), "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if el := time.Since(start); el > 20*time.Second {
			t.Errorf("%s: took %v to refuse", tt.name, el)
		}
	}
}

func TestReferences(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"${a}/${b}", []string{"a", "b"}},
		{"${__P(${a},${b})}", []string{"a", "b"}},
		{"${${${x}", []string{"x"}},
		{"${a", nil},
		{"$a} ${}", []string{""}},
	}
	for _, tt := range tests {
		var got []string
		for n := range references(tt.in) {
			got = append(got, n)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("references(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func TestIntWeights(t *testing.T) {
	r := func(a, b int64) *big.Rat { return big.NewRat(a, b) }
	tests := []struct {
		in    []*big.Rat
		want  []int
		exact bool
	}{
		{[]*big.Rat{r(1, 1), r(1, 1)}, []int{1, 1}, true},
		{[]*big.Rat{r(1, 3), r(1, 3), r(1, 1)}, []int{1, 1, 3}, true},
		{[]*big.Rat{r(4, 1), r(6, 1)}, []int{2, 3}, true},
		{[]*big.Rat{r(200, 147), r(2, 1)}, []int{100, 147}, true},
		{[]*big.Rat{r(1, 1), r(1, 1_000_000_000)}, []int{1_000_000, 1}, false},
		{[]*big.Rat{r(0, 1), r(1, 2)}, []int{0, 1}, true},
		{nil, []int{}, true},
	}
	for _, tt := range tests {
		got, exact := intWeights(tt.in)
		if !slices.Equal(got, tt.want) || exact != tt.exact {
			t.Errorf("intWeights(%v) = %v, %v; want %v, %v", tt.in, got, exact, tt.want, tt.exact)
		}
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		p    Plan
		opt  ArgsOptions
		want []string
	}{
		{"closed", Plan{Threads: 8, Duration: 60e9}, ArgsOptions{}, []string{"--concurrency", "8"}},
		{"closed bounded by duration", Plan{Threads: 8, Duration: 60e9, Total: 5}, ArgsOptions{Bounded: true}, []string{"--concurrency", "8", "--duration", "1m0s"}},
		{"open bounded by count", Plan{Threads: 8, Rate: 2.5, Total: 100}, ArgsOptions{Bounded: true}, []string{"--rate", "2.5", "--requests", "100"}},
		{"checks", Plan{Threads: 1, Timeout: 3e9, ExpectBody: "ok", MaxDurationMs: 250}, ArgsOptions{MaxP99: true},
			[]string{"--concurrency", "1", "--timeout", "3s", "--expect-body", "ok", "--max-p99", "250ms"}},
		{"max-p99 only on request", Plan{Threads: 1, MaxDurationMs: 250}, ArgsOptions{}, []string{"--concurrency", "1"}},
	}
	for _, tt := range tests {
		if got := tt.p.Args(tt.opt); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Args = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	ok := get("a", "/", sp("HTTPSampler.domain", "h"), "")
	// CSV files that exist but cannot be used stay errors: unlike a
	// missing one (a placeholder, noted), they are likely the file meant.
	csvDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(csvDir, "latin1.csv"), []byte("caf\xe9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(csvDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, doc, dir, want string
	}{
		{"not XML", "<a", "", "XML: "},
		{"text only", "{}", "", "no XML element"},
		{"empty", "", "", "no XML element"},
		{"not a plan", "<project/>", "", "not a JMeter test plan"},
		{"no test plan", `<jmeterTestPlan><hashTree/></jmeterTestPlan>`, "", "no TestPlan"},
		{"no thread group", `<jmeterTestPlan><hashTree><TestPlan testclass="TestPlan" testname="P"/><hashTree/></hashTree></jmeterTestPlan>`, "", "P: no enabled thread group"},
		{"orphan hashTree", `<jmeterTestPlan><hashTree><hashTree/></hashTree></jmeterTestPlan>`, "", "hashTree with no element"},
		{"bad threads", plan("many", "1", ok), "", `P › G: ThreadGroup.num_threads "many"`},
		{"too many threads", plan("2000000", "1", ok), "", "threads"},
		{"negative ramp-up", strings.Replace(plan("1", "1", ok), "<stringProp name=\"ThreadGroup.num_threads\">", sp("ThreadGroup.ramp_time", "-5")+"<stringProp name=\"ThreadGroup.num_threads\">", 1), "", "ThreadGroup.ramp_time -5"},
		{"bad loop count", plan("1", "1", controller("LoopController", "L", sp("LoopController.loops", "x"), ok)), "", `P › G › L: LoopController.loops "x"`},
		{"bad calcMode", plan("1", "1", ok+`<ConstantThroughputTimer testclass="ConstantThroughputTimer" testname="T"><intProp name="calcMode">9</intProp>`+sp("throughput", "60")+`</ConstantThroughputTimer><hashTree/>`), "", "P › G › T: calcMode"},
		{"CSV without a directory", plan("1", "1", `<CSVDataSet testclass="CSVDataSet" testname="C">`+sp("filename", "u.csv")+`</CSVDataSet><hashTree/>`+ok), "", "P › G › C: CSV file u.csv is relative"},
		{"CSV not UTF-8", plan("1", "1", `<CSVDataSet testclass="CSVDataSet" testname="C">`+sp("filename", "latin1.csv")+`</CSVDataSet><hashTree/>`+ok), csvDir, "P › G › C: CSV file latin1.csv is not UTF-8"},
		{"CSV a directory", plan("1", "1", `<CSVDataSet testclass="CSVDataSet" testname="C">`+sp("filename", "sub")+`</CSVDataSet><hashTree/>`+ok), csvDir, "P › G › C: CSV file: read "},
		{"deep nesting", strings.Repeat("<a>", maxDepth+1), "", "nested deeper"},
		{"undeclared encoding", `<?xml version="1.0" encoding="EBCDIC"?><jmeterTestPlan/>`, "", "EBCDIC"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.doc), tt.dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// hostile are documents that declare entities: expanded, a billion laughs
// takes gigabytes from a kilobyte, and an external entity reads a file.
// Each would be a valid plan without its DOCTYPE.
var hostile = map[string]string{
	"billion laughs": `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>` + strings.Replace(plan("1", "1", get("&lol9;", "/", sp("HTTPSampler.domain", "h"), "")), `<?xml version="1.0" encoding="UTF-8"?>`, "", 1),
	"external entity": `<?xml version="1.0"?>
<!DOCTYPE jmeterTestPlan [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + strings.Replace(plan("1", "1", get("a", "/&xxe;", sp("HTTPSampler.domain", "h"), "")), `<?xml version="1.0" encoding="UTF-8"?>`, "", 1),
	"parameter entity": `<!DOCTYPE jmeterTestPlan [<!ENTITY % ext SYSTEM "http://127.0.0.1:1/x.dtd"> %ext;]>` + plan("1", "1", "")[len(`<?xml version="1.0" encoding="UTF-8"?>`):],
	"entity unused":    `<!DOCTYPE jmeterTestPlan [<!ENTITY h "h">]>` + plan("1", "1", get("a", "/", sp("HTTPSampler.domain", "h"), ""))[len(`<?xml version="1.0" encoding="UTF-8"?>`):],
	"bare ENTITY":      `<!ENTITY x "y"><jmeterTestPlan/>`,
}

// TestEntitiesRefused: a plan declaring entities is refused by name, on
// one line, whether it uses them or not; a DOCTYPE without any is read.
func TestEntitiesRefused(t *testing.T) {
	for name, doc := range hostile {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(doc), "")
			if err == nil || !strings.Contains(err.Error(), "entity declarations are not accepted") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line refusing entity declarations", err)
			}
		})
	}
	doc := `<!DOCTYPE jmeterTestPlan>` + plan("1", "1", get("a", "/", sp("HTTPSampler.domain", "h"), ""))[len(`<?xml version="1.0" encoding="UTF-8"?>`):]
	if p := mustParse(t, doc); len(p.Requests) != 1 {
		t.Fatalf("a DOCTYPE without entities: requests %+v, want 1", p.Requests)
	}
}

// TestMissingCSVIsANote: a CSV Data Set Config naming a file that is not
// there (a placeholder, as in JMeter's own templates) is noted, and the
// requests that use its variables are sent with them verbatim, as JMeter
// sends them; the rest of the plan is carried over.
func TestMissingCSVIsANote(t *testing.T) {
	dir := t.TempDir()
	body := `<CSVDataSet testclass="CSVDataSet" testname="C">` + sp("filename", " CHANGE_FOLDER/login.csv") + sp("variableNames", "user") + `</CSVDataSet><hashTree/>` +
		get("login", "/login", sp("HTTPSampler.domain", "h"), "") + get("home", "/", sp("HTTPSampler.domain", "h"), "")
	body = strings.Replace(body, `<stringProp name="HTTPSampler.path">/login</stringProp>`, `<stringProp name="HTTPSampler.path">/login?u=${user}</stringProp>`, 1)
	p, err := Parse(strings.NewReader(plan("1", "1", body)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Requests) != 2 || !strings.Contains(p.Requests[0].URL, "user") || p.Requests[1].URL != "http://h/" {
		t.Errorf("requests %+v, want login with ${user} verbatim, and home", p.Requests)
	}
	want := `CSV file "` + filepath.Join(dir, " CHANGE_FOLDER/login.csv") + `" not found: requests that use its variables sent with ${var} verbatim`
	if !hasNote(p, "P › G › C", want) {
		t.Errorf("notes %v lack %q", p.Unsupported, want)
	}
}

// TestTooLarge: a document over MaxPlanSize is refused, even one that is
// valid XML all the way.
func TestTooLarge(t *testing.T) {
	doc := plan("1", "1", "<!--"+strings.Repeat("x", MaxPlanSize)+"-->")
	_, err := Parse(strings.NewReader(doc), "")
	if err == nil || !strings.Contains(err.Error(), "larger than 32 MiB") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

func TestParseFileNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.jmx")
	if err := os.WriteFile(path, []byte("<jmeterTestPlan>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want it to name %s", err, path)
	}
}

// TestLatin1: JMeter 2.x plans declared ISO-8859-1 read as such.
func TestLatin1(t *testing.T) {
	doc := strings.Replace(plan("1", "1", get("caf\xe9", "/", sp("HTTPSampler.domain", "h"), "")),
		`encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)
	p := mustParse(t, doc)
	if len(p.Requests) != 1 || p.Requests[0].Name != "café" {
		t.Fatalf("requests %+v, want one named café", p.Requests)
	}
}

// TestCSV: rows of files of different lengths pair up, wrapping, and the
// sampler's weight is shared among its rows.
func TestCSV(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte("skip\n1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.csv"), []byte("x;y\r\np;q\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvA := `<CSVDataSet testclass="CSVDataSet" testname="A">` + sp("filename", "a.csv") + sp("variableNames", "n") +
		`<boolProp name="ignoreFirstLine">true</boolProp></CSVDataSet><hashTree/>`
	csvB := `<CSVDataSet testclass="CSVDataSet" testname="B">` + sp("filename", "b.csv") + sp("delimiter", ";") + `</CSVDataSet><hashTree/>`
	body := defaults("D", sp("HTTPSampler.domain", "h")) + csvA + csvB +
		get("rows", "/${n}/${x}/${y}", "", "") + get("plain", "/p", "", "")
	p, err := Parse(strings.NewReader(plan("1", "1", body)), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []reqSummary{
		{"rows", "http://h/1/p/q", 1}, {"rows", "http://h/2/p/q", 1}, {"rows", "http://h/3/p/q", 1}, {"rows", "http://h/4/p/q", 1},
		{"plain", "http://h/p", 4},
	}
	if got := summarize(p); !slices.Equal(got, want) {
		t.Errorf("requests\n got %v\nwant %v", got, want)
	}
	if !hasNote(p, "P › G › A", "sharing mode") {
		t.Errorf("no sharing-mode note in %v", p.Unsupported)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jmx"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	templates, _ := filepath.Glob(filepath.Join("testdata", "jmeter-templates", "*.jmx"))
	for _, file := range templates {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, doc := range hostile {
		f.Add([]byte(doc))
	}
	f.Add([]byte(plan("2", "3", get("a", "/${__P(x,${h})}", sp("HTTPSampler.domain", "h"), ""))))
	f.Add([]byte(`<jmeterTestPlan><hashTree><TestPlan testclass="TestPlan"/><hashTree><ThreadGroup testclass="ThreadGroup"/><hashTree/></hashTree></hashTree></jmeterTestPlan>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// No directory: a fuzzed plan reads no relative file.
		p, err := Parse(strings.NewReader(string(b)), "")
		if err != nil {
			return
		}
		if p.Threads < 0 || p.Rate < 0 || p.Duration < 0 || p.RampUp < 0 || p.Timeout < 0 || p.Total < 0 || len(p.Requests) > maxRequests {
			t.Fatalf("plan %+v", p)
		}
		for _, r := range p.Requests {
			if r.Weight <= 0 || r.Weight > maxWeight || r.Method == "" {
				t.Fatalf("request %+v", r)
			}
			if _, err := url.Parse(r.URL); err != nil {
				t.Fatalf("request %q has URL %q: %v", r.Name, r.URL, err)
			}
		}
		for _, n := range p.Unsupported {
			if n.Path == "" || n.Msg == "" {
				t.Fatalf("note %+v", n)
			}
		}
	})
}
