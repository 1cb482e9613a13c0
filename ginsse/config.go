package ginsse

import "github.com/gin-gonic/gin"

// Config holds what only the app can decide about a request. The zero Config
// is ready to use: every field has a default.
type Config struct {
	// Next, when it returns true, lets the request pass through untouched.
	// Default: nil (never).
	Next func(c *gin.Context) bool

	// Topics returns the topics a request subscribes to: from path
	// parameters, the query, or what an auth middleware put on the context.
	// The client gets these topics and no others. Return an error to refuse:
	// core.Reject(status, message) chooses the answer, any other error is
	// 403 Forbidden. A panic is 500. See also Topics(...) for fixed topics.
	// Default: the route's path pattern (c.FullPath()), as one topic.
	Topics func(c *gin.Context) ([]string, error)

	// Meta returns an app value kept with the subscriber (core.Subscriber.Meta),
	// for hooks: a user id, say.
	// Default: nil.
	Meta func(c *gin.Context) any

	// ClientAddr returns the client's address for
	// core.WithMaxSubscribersPerClient.
	// Default: c.ClientIP(), which honours gin's trusted proxies.
	ClientAddr func(c *gin.Context) string
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Topics:     func(c *gin.Context) ([]string, error) { return []string{c.FullPath()}, nil },
		ClientAddr: func(c *gin.Context) string { return c.ClientIP() },
		Meta:       func(*gin.Context) any { return nil },
	}
}

// Topics returns a Config.Topics function that always subscribes to names.
func Topics(names ...string) func(*gin.Context) ([]string, error) {
	names = append([]string(nil), names...)
	return func(*gin.Context) ([]string, error) { return names, nil }
}

func configDefault(config []Config) Config {
	cfg := DefaultConfig()
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
