package core

// WriterRests reports how often h's helper writer has rested (inline.go).
func WriterRests(h *Hub) uint64 { return h.stats.writerRests.Load() }
