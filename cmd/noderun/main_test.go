package main

import (
	"os"
	"testing"

	"github.com/noderun/noderun/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
