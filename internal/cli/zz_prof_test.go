package cli

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

func TestZZProfList(t *testing.T) {
	dir := os.Getenv("APIMTLS_PROF_DIR")
	if dir == "" {
		t.Skip()
	}
	Run(context.Background(), append([]string{"apimtls", "--dir", dir}, strings.Fields(os.Getenv("APIMTLS_PROF_ARGS"))...), io.Discard, io.Discard)
}
