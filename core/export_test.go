package core

// WithoutFreshness turns the freshness measurement off, so that a benchmark
// can measure what it costs.
func WithoutFreshness() Option { return func(o *options) { o.freshnessOff = true } }

// FramesWritten is Stats().FramesWritten without the rest of the snapshot, for
// a benchmark that polls it.
func FramesWritten(h *Hub) uint64 { return h.stats.frames.Load() }
