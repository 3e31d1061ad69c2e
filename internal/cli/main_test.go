package cli

import (
	"os"
	"testing"

	"github.com/apimtls/apimtls/internal/miniotest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.StopShared()
	os.Exit(code)
}
