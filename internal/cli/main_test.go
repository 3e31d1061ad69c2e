package cli

import (
	"os"
	"testing"

	"github.com/apimtls/apimtls/internal/miniotest"
)

func TestMain(m *testing.M) {
	// No developer's own profile (docs/config.md) changes what the tests see.
	config, err := os.MkdirTemp("", "apimtls-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", config)
	os.Unsetenv(envContext)
	code := m.Run()
	os.RemoveAll(config)
	miniotest.StopShared()
	os.Exit(code)
}
