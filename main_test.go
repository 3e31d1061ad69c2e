package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/apimtls/apimtls/internal/cli"
	"github.com/apimtls/apimtls/internal/scripttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"apimtls": func() { os.Exit(cli.Main()) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script.
func TestScripts(t *testing.T) {
	scripttest.Run(t, "testdata/script")
}
