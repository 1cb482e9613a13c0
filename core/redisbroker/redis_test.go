package redisbroker_test

import (
	"testing"

	"github.com/ssehub/ssehub/internal/redistest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type redisServer = redistest.Server

func startRedis(t testing.TB, extra ...string) *redisServer { return redistest.Start(t, extra...) }
