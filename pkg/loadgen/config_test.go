package loadgen

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Target: "http://127.0.0.1:8080/x", Rate: 10, Duration: time.Second}
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"valid", func(*Config) {}, ""},
		{"no target", func(c *Config) { c.Target = "" }, "--target"},
		{"bad scheme", func(c *Config) { c.Target = "ftp://h/" }, "--target"},
		{"no host", func(c *Config) { c.Target = "http:///x" }, "--target"},
		{"userinfo", func(c *Config) { c.Target = "http://u:p@h/" }, "--target"},
		{"both models", func(c *Config) { c.Concurrency = 3 }, "--rate"},
		{"no model", func(c *Config) { c.Rate = 0 }, "--rate"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "--rate"},
		{"connections in closed model", func(c *Config) { c.Rate, c.Concurrency, c.Connections = 0, 2, 3 }, "--connections"},
		{"retries", func(c *Config) { c.Retries = 11 }, "--retries"},
		{"header name", func(c *Config) { c.Headers = []Header{{Name: "a b", Value: "x"}} }, "--header"},
		{"header value", func(c *Config) { c.Headers = []Header{{Name: "a", Value: "x\r\ny: z"}} }, "--header"},
		{"request id header", func(c *Config) { c.RequestIDHeader = "bad:name" }, "--request-id-header"},
		{"shard of no split", func(c *Config) { c.Shard = 1 }, "Shard"},
		{"shard beyond shards", func(c *Config) { c.Shard, c.Shards = 2, 2 }, "Shard"},
		{"negative shard", func(c *Config) { c.Shard, c.Shards = -1, 2 }, "Shard"},
		{"negative shards", func(c *Config) { c.Shards = -2 }, "Shards"},
		{"last shard", func(c *Config) { c.Shard, c.Shards = 2, 3 }, ""},
		{"grpc", func(c *Config) { c.Target = "grpc://127.0.0.1:9000" }, ""},
		{"grpcs with a method and a body", func(c *Config) {
			c.Target, c.Protocol, c.GRPCMethod, c.Body = "grpcs://h:443/", ProtoGRPC, "/pkg.Svc/Do", []byte{8, 1}
		}, ""},
		{"grpc with its POST", func(c *Config) { c.Target, c.Method = "grpc://h:1", "POST" }, ""},
		{"grpc with another method", func(c *Config) { c.Target, c.Method = "grpc://h:1", "GET" }, "--method"},
		{"grpc with a path", func(c *Config) { c.Target = "grpc://h:1/pkg.Svc/Do" }, "--target"},
		{"grpc with a query", func(c *Config) { c.Target = "grpc://h:1?x=1" }, "--target"},
		{"grpc over h2c", func(c *Config) { c.Target, c.Protocol = "grpc://h:1", ProtoH2C }, "Protocol"},
		{"grpc protocol on http", func(c *Config) { c.Protocol = ProtoGRPC }, "--target"},
		{"grpc method on http", func(c *Config) { c.GRPCMethod = "/a.B/C" }, "--grpc-method"},
		{"grpc method without slash", func(c *Config) { c.Target, c.GRPCMethod = "grpc://h:1", "a.B/C" }, "--grpc-method"},
		{"grpc method without method", func(c *Config) { c.Target, c.GRPCMethod = "grpc://h:1", "/a.B" }, "--grpc-method"},
		{"grpc method with three slashes", func(c *Config) { c.Target, c.GRPCMethod = "grpc://h:1", "/a.B/C/D" }, "--grpc-method"},
		{"grpc method with a space", func(c *Config) { c.Target, c.GRPCMethod = "grpc://h:1", "/a.B/C D" }, "--grpc-method"},
		{"grpc content-type header", func(c *Config) { c.Target, c.Headers = "grpc://h:1", []Header{{Name: "content-type", Value: "x"}} }, "--header"},
		{"grpc te header", func(c *Config) { c.Target, c.Headers = "grpc://h:1", []Header{{Name: "TE", Value: "x"}} }, "--header"},
		{"grpc metadata header", func(c *Config) { c.Target, c.Headers = "grpc://h:1", []Header{{Name: "grpc-timeout", Value: "2S"}} }, ""},
		{"grpc targets", func(c *Config) { c.Target, c.Targets = "", []Target{{URL: "grpc://h:1", Method: "POST"}} }, "--targets"},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		err := c.Validate()
		var ce *ConfigError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.field != "" && (!errors.As(err, &ce) || ce.Field != tt.field):
			t.Errorf("%s: error %v, want one about %s", tt.name, err, tt.field)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/common/healthy", "https://[::1]/", "http://h", "ftp://x", "http://%zz", "://", "http://h:99999/", "http://h:0/", "http://[::1]:65536/", "grpc://h:1", "grpcs://h/", "grpc://h:1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Config{Target: s}
		tg, err := c.parseTarget()
		if err != nil {
			return
		}
		if tg.addr == "" || tg.host == "" || !strings.HasPrefix(s, "http") && !strings.HasPrefix(s, "grpc") {
			t.Fatalf("parseTarget(%q) accepted %+v", s, tg)
		}
		// A port no socket can have is refused, not left to the dialler.
		port := tg.addr[strings.LastIndexByte(tg.addr, ':')+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("parseTarget(%q) accepted port %q", s, port)
		}
	})
}
