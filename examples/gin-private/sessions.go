package main

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// Sign-in and sessions: a stand-in for your auth. A session is a random
// token in a cookie; the store maps it to a user, in memory for one instance
// or in Redis, which every instance shares.

const sessionTTL = time.Hour

// A sessionStore holds the sessions. revoke ends every session of a user:
// signing out signs out everywhere, as the user's streams end everywhere.
type sessionStore interface {
	add(ctx context.Context, token, user string) error
	user(ctx context.Context, token string) (string, error) // "" when there is no such session
	revoke(ctx context.Context, user string) error
}

func login(store sessionStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		user := c.Query("user")
		if user == "" || len(user) > 32 {
			c.String(http.StatusBadRequest, "login?user=NAME (1 to 32 bytes)\n")
			return
		}
		token := rand.Text()
		if err := store.add(c, token, user); err != nil {
			c.String(http.StatusServiceUnavailable, "not signed in: %v\n", err)
			return
		}
		c.SetCookie("session", token, int(sessionTTL.Seconds()), "/", "", false, true)
		c.Redirect(http.StatusSeeOther, "/")
	}
}

// auth puts the signed-in user on the context, as your auth middleware
// would, and refuses a request without a live session with 401.
func auth(store sessionStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, _ := c.Cookie("session")
		user, err := store.user(c, token)
		if err != nil {
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
			return
		}
		if user == "" {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "sign in at /login?user=NAME"})
			return
		}
		c.Set("user", user)
	}
}

// memSessions keeps the sessions of one instance.
type memSessions struct {
	mu    sync.Mutex
	users map[string]string // token: user
}

func (s *memSessions) add(_ context.Context, token, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[token] = user
	return nil
}

func (s *memSessions) user(_ context.Context, token string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[token], nil
}

func (s *memSessions) revoke(_ context.Context, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for token, u := range s.users {
		if u == user {
			delete(s.users, token)
		}
	}
	return nil
}

// redisSessions keeps the sessions in Redis, for every instance: a key per
// session, and a set of each user's tokens.
type redisSessions struct{ rdb *redis.Client }

func (s redisSessions) add(ctx context.Context, token, user string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "gin-private:session:"+token, user, sessionTTL)
		p.SAdd(ctx, "gin-private:user:"+user, token)
		p.Expire(ctx, "gin-private:user:"+user, sessionTTL)
		return nil
	})
	return err
}

func (s redisSessions) user(ctx context.Context, token string) (string, error) {
	user, err := s.rdb.Get(ctx, "gin-private:session:"+token).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return user, err
}

func (s redisSessions) revoke(ctx context.Context, user string) error {
	tokens, err := s.rdb.SMembers(ctx, "gin-private:user:"+user).Result()
	if err != nil {
		return err
	}
	keys := []string{"gin-private:user:" + user}
	for _, token := range tokens {
		keys = append(keys, "gin-private:session:"+token)
	}
	return s.rdb.Del(ctx, keys...).Err()
}
