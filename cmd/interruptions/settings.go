package main

import (
	"time"

	"github.com/interruptions/interruptions/processor"
)

// apply sets the settings of f in cfg.
func (f *engineFlags) apply(cfg *processor.Config) {
	cfg.Engine = f.engine()
	cfg.MaxClockSkew = time.Duration(f.maxClockSkew)
	cfg.Encoder.Source = f.source
	cfg.MaxPhase = f.maxPhase
}

// validate checks the settings of f by the rules `run` applies to them
// (processor.Config.Validate, the whole configuration at once), for the
// commands that have no Kafka settings: `replay` exits 2 on the same
// settings that `run` and `demo` exit 2 on.
func (f *engineFlags) validate() error {
	cfg := processor.DefaultConfig()
	f.apply(&cfg)
	if err := cfg.Validate(); err != nil {
		return usageError("%v", err)
	}
	return nil
}
