package fibersse

import "github.com/gofiber/fiber/v2"

// Config holds what only the app can decide about a request. The zero Config
// is ready to use: every field has a default.
type Config struct {
	// Next, when it returns true, lets the request pass through untouched.
	// Default: nil (never).
	Next func(c *fiber.Ctx) bool

	// Topics returns the topics a request subscribes to: from path
	// parameters, the query, or what an auth middleware put on the context.
	// The client gets these topics and no others. Return an error to refuse:
	// core.Reject(status, message) chooses the answer, any other error is
	// 403 Forbidden. A panic is 500. See also Topics(...) for fixed topics.
	// It runs before the handler returns, so it may read anything on c.
	// Default: the route's path pattern (c.Route().Path), as one topic.
	Topics func(c *fiber.Ctx) ([]string, error)

	// Meta returns an app value kept with the subscriber (core.Subscriber.Meta),
	// for hooks: a user id, say. It outlives the request: copy strings taken
	// from c (utils.CopyString), since fiber reuses their memory.
	// Default: nil.
	Meta func(c *fiber.Ctx) any

	// ClientAddr returns the client's address for
	// core.WithMaxSubscribersPerClient.
	// Default: c.IP(), which honours fiber's ProxyHeader setting.
	ClientAddr func(c *fiber.Ctx) string
}

// ConfigDefault is the Config New uses for fields left zero. It holds no
// slices, so changing it cannot leak into a running handler.
var ConfigDefault = DefaultConfig()

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Topics:     func(c *fiber.Ctx) ([]string, error) { return []string{c.Route().Path}, nil },
		ClientAddr: func(c *fiber.Ctx) string { return c.IP() },
		Meta:       func(*fiber.Ctx) any { return nil },
	}
}

// Topics returns a Config.Topics function that always subscribes to names.
func Topics(names ...string) func(*fiber.Ctx) ([]string, error) {
	names = append([]string(nil), names...)
	return func(*fiber.Ctx) ([]string, error) { return names, nil }
}

func configDefault(config []Config) Config {
	cfg := ConfigDefault
	if len(config) == 0 {
		return cfg
	}
	c := config[0]
	if c.Next != nil {
		cfg.Next = c.Next
	}
	if c.Topics != nil {
		cfg.Topics = c.Topics
	}
	if c.Meta != nil {
		cfg.Meta = c.Meta
	}
	if c.ClientAddr != nil {
		cfg.ClientAddr = c.ClientAddr
	}
	return cfg
}
