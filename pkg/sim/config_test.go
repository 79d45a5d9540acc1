package sim

import (
	"strings"
	"testing"
	"time"
)

func TestPresetsAreValid(t *testing.T) {
	for _, name := range PresetNames() {
		cfg, err := Preset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	_, err := Preset("fast")
	if err == nil || !strings.Contains(err.Error(), "safe, unsafe, pinning") {
		t.Errorf("unknown preset: %v, want the list of valid ones", err)
	}
}

func TestPresetPromises(t *testing.T) {
	safe, _ := Preset(PresetSafe)
	if safe.PreStopDelay <= safe.EndpointDelay {
		t.Errorf("safe: preStop %v must outlast the endpoint delay %v", safe.PreStopDelay, safe.EndpointDelay)
	}
	if safe.TerminationGracePeriod < safe.PreStopDelay+safe.App.DrainTimeout {
		t.Errorf("safe: grace %v does not cover preStop %v + drain %v", safe.TerminationGracePeriod, safe.PreStopDelay, safe.App.DrainTimeout)
	}
	if s, u := safe.fenceposts(); s != 1 || u != 0 {
		t.Errorf("safe: surge %d unavailable %d, want 1 and 0", s, u)
	}
	pin, _ := Preset(PresetPinning)
	if s, u := pin.fenceposts(); pin.Replicas != 3 || s != 1 || u != 0 {
		t.Errorf("pinning: %d replicas, surge %d, unavailable %d; want 3, 1, 0", pin.Replicas, s, u)
	}
	unsafe, _ := Preset(PresetUnsafe)
	if unsafe.ReadinessProbe != nil || unsafe.PreStopDelay != 0 || !unsafe.App.ExitOnSIGTERM ||
		unsafe.App.StartupDelay <= unsafe.EndpointDelay {
		t.Errorf("unsafe preset is not unsafe enough: %+v", unsafe)
	}
}

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas              int
		surge, unavail        string
		wantSurge, wantUnavai int
	}{
		{2, "25%", "25%", 1, 0},
		{3, "25%", "25%", 1, 0},
		{4, "25%", "25%", 1, 1},
		{10, "25%", "25%", 3, 2},
		{10, "0", "100%", 0, 10},
		{2, "0", "10%", 0, 1}, // both round to 0: unavailable becomes 1
		{2, "5", "7", 5, 2},   // unavailable capped at replicas
		{1, "150%", "0", 2, 0},
	} {
		cfg := DefaultConfig()
		cfg.Replicas, cfg.MaxSurge, cfg.MaxUnavailable = tc.replicas, tc.surge, tc.unavail
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", tc, err)
			continue
		}
		s, u := cfg.fenceposts()
		if s != tc.wantSurge || u != tc.wantUnavai {
			t.Errorf("replicas %d surge %s unavailable %s: got %d/%d, want %d/%d",
				tc.replicas, tc.surge, tc.unavail, s, u, tc.wantSurge, tc.wantUnavai)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"zero config", func(c *Config) { *c = Config{} }, []string{"name", "replicas", "maxSurge", "maxUnavailable", "progressDeadline", "rolloutKind", "serviceAddr"}},
		{"both zero", func(c *Config) { c.MaxSurge, c.MaxUnavailable = "0", "0%" }, []string{"maxUnavailable: may not be 0 when maxSurge is 0"}},
		{"negative surge", func(c *Config) { c.MaxSurge = "-1" }, []string{"maxSurge: must not be negative"}},
		{"bad percent", func(c *Config) { c.MaxUnavailable = "25 %" }, []string{"maxUnavailable: \"25 %\" is neither an integer"}},
		{"over 100%", func(c *Config) { c.MaxUnavailable = "101%" }, []string{"greater than 100%"}},
		{"replicas", func(c *Config) { c.Replicas = -1 }, []string{"replicas: must be between 1 and 50, got -1"}},
		{"too many", func(c *Config) { c.Replicas = 51 }, []string{"replicas"}},
		{"negative delays", func(c *Config) {
			c.EndpointDelay, c.PreStopDelay, c.TerminationGracePeriod, c.StartDelay = -1, -1, -1, -1
			c.App.StartupDelay = -time.Second
		}, []string{"endpointDelay: must not be negative", "preStopDelay", "terminationGracePeriod", "startDelay", "app.startupDelay: must not be negative, got -1s"}},
		{"probe", func(c *Config) {
			c.ReadinessProbe = &ProbeConfig{InitialDelay: -1}
		}, []string{"readinessProbe.initialDelay", "readinessProbe.period: must be positive", "readinessProbe.timeout", "readinessProbe.failureThreshold: must be at least 1", "readinessProbe.successThreshold"}},
		{"mode", func(c *Config) { c.App.PreStopMode = "sleep" }, []string{"app.preStopMode: \"sleep\""}},
		{"kind", func(c *Config) { c.RolloutKind = "recreate" }, []string{"rolloutKind: \"recreate\""}},
		{"same version", func(c *Config) { c.RolloutKind, c.ToVersion = RolloutImage, "v1" }, []string{"toVersion: an image rollout needs a version other than"}},
		{"not loopback", func(c *Config) { c.ServiceAddr = "0.0.0.0:8080" }, []string{"serviceAddr", "loopback"}},
		{"name", func(c *Config) { c.Name = "Test_App" }, []string{"name: \"Test_App\" is not a DNS label"}},
	} {
		cfg := DefaultConfig()
		tc.change(&cfg)
		err := cfg.Validate()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
	cfg := DefaultConfig()
	cfg.ServiceAddr = "[::1]:0"
	cfg.MaxSurge, cfg.MaxUnavailable = "0", "1"
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// The pinning preset's first name keeps working for scripts written with it.
func TestPinningAlias(t *testing.T) {
	if got := CanonicalPreset("seed"); got != PresetPinning {
		t.Errorf("CanonicalPreset(seed) = %q, want %q", got, PresetPinning)
	}
	alias, err := Preset("seed")
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := Preset(PresetPinning)
	if alias.Replicas != pin.Replicas || alias.MaxSurge != pin.MaxSurge || alias.PreStopDelay != pin.PreStopDelay {
		t.Errorf("Preset(seed) = %+v, want the pinning preset %+v", alias, pin)
	}
}
