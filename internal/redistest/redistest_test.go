package redistest

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestKillRestart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.ResetStats()
	if err := c.Get(ctx, "k").Err(); err != nil {
		t.Fatal(err)
	}
	if got := s.Calls()["get"]; got != 1 {
		t.Errorf(`Calls()["get"] = %d; want 1`, got)
	}
	addr := s.Addr()
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Kill() // a second Kill is a no-op
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr())
	}
	// The old client reconnects; the data is gone (no persistence).
	var err error
	for range 20 {
		if err = c.Ping(ctx).Err(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Errorf("key survived the restart")
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	s := Start(t, "--requirepass", "pw")
	ctx := context.Background()
	if err := s.Client().Ping(ctx).Err(); err == nil {
		t.Error("PING without the password answered")
	}
	if err := s.Client("pw").Ping(ctx).Err(); err != nil {
		t.Errorf("PING with the password: %v", err)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	nodes := StartCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: Addrs(nodes)})
	defer c.Close()
	ctx := context.Background()
	// Keys in different slots land on different nodes and still work.
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var per []int64
	for _, s := range nodes {
		n, err := s.Client().DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		per = append(per, n)
	}
	for i, n := range per {
		if n == 0 {
			t.Errorf("node %d holds no keys (%v): the slots are not spread", i, per)
		}
	}
}
