package dockerfile

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzParse checks that Parse and Evaluate never panic, and that every error they return
// is an *Error.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"FROM busybox\nRUN echo hi\n",
		"ARG V=1\nFROM img:$V AS b\nARG V\nENV A=$V B \"c d\"\nLABEL x=${A:-y} \"q r\"=s\nWORKDIR rel/../x\n",
		"# escape=`\nFROM a\nRUN echo `\n  b\nCOPY --chown=1:1 [\"a\", \"b/\"]\n",
		"FROM a\nHEALTHCHECK --interval=1s --retries=2 CMD [\"x\"]\nHEALTHCHECK NONE\nEXPOSE 1-3/udp 80\n",
		"FROM a\nRUN <<EOF\necho\nEOF\nRUN <<-X\n\ty\n\tX\nONBUILD RUN x\nSHELL [\"bash\",\"-c\"]\nCMD x\nENTRYPOINT [\"y\"]\n",
		"FROM a\nKILN --x=1 a b\nVOLUME /a [\nSTOPSIGNAL 9\nMAINTAINER me\nUSER ${U:+u}\n",
		"FROM a\nCOPY <<EOF /x\nhi\nEOF\n",
		"\xef\xbb\xbfFROM a\r\nRUN x\\\r\n y\r\n",
		"ARG B=a\nFROM $B AS one\nRUN x\nFROM one AS two\nCOPY --from=one /x /y\nFROM b\nADD --from=0 /t.tar /\nCOPY --from=img:1 /a /\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		file, err := Parse(text, map[string]string{"http_proxy": "p", "V": "2"}, "KILN")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse error %T: %v", err, err)
			}
			return
		}
		base := v1.Config{OnBuild: []string{"RUN x"}, Labels: map[string]string{"a": "b"}}
		for i := range file.Stages {
			p, err := file.EvaluateStage(i, base)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("EvaluateStage error %T: %v", err, err)
				}
				continue
			}
			for _, s := range p.Steps {
				if s.From != "" && s.FromStage >= i {
					t.Fatalf("stage %d copies from stage %d, not an earlier one", i, s.FromStage)
				}
			}
		}
	})
}
