package match

// newTestEngine returns NewEngine(cfg) with every partial decision checked
// against deciding the whole channel (Engine.verify): the tests of this
// package run the engine's fast path against its own full decision.
func newTestEngine(cfg EngineConfig) *Engine {
	e := NewEngine(cfg)
	e.verify = true
	return e
}
