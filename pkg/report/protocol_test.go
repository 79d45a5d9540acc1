package report

import "testing"

func TestProtocolText(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "HTTP/1.1"},
		{Config{Protocol: "http/1.1", Streams: 1}, "HTTP/1.1"},
		{Config{Protocol: "h2"}, "HTTP/2 over TLS (h2)"},
		{Config{Protocol: "h2c", Streams: 10}, "HTTP/2 without TLS (h2c), 10 streams per connection"},
		{Config{Protocol: "grpc", GRPCMethod: "/grpc.health.v1.Health/Check", Streams: 1}, "gRPC /grpc.health.v1.Health/Check"},
	} {
		if got := tc.c.ProtocolText(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}
