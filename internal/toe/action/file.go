package action

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

func init() {
	for _, m := range []Module{
		appendFile, copyFileModule, copyFolder, createFile, createFolder, createSymlink,
		deleteFile, deleteFolder, listFiles, moveFile, moveFolder, readFile,
		setFileEncoding, setFileOwner, setFolderOwner, setFilePermissions, setFolderPermissions,
	} {
		register(m)
	}
}

// Shared input fields.
var (
	pathField        = field{name: "path", kind: kindString, required: true}
	sourceField      = field{name: "source", kind: kindString, required: true}
	destinationField = field{name: "destination", kind: kindString, required: true}
	overwriteField   = field{name: "overwrite", kind: kindBool}
	encodingField    = field{name: "encoding", kind: kindString}
	ownerField       = field{name: "owner", kind: kindString}
	groupField       = field{name: "group", kind: kindString}
	permissionsField = field{name: "permissions", kind: kindString}
	recursiveField   = field{name: "recursive", kind: kindBool}
	forceField       = field{name: "force", kind: kindBool}
)

// appendFile appends content to an existing file; a missing file fails
// the operation rather than being created.
var appendFile = &batchModule{
	name:   "AppendFile",
	schema: schema{pathField, {name: "content", kind: kindString}, encodingField},
	extra:  func(op values) []Problem { return checkEncoding(op, "encoding") },
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		enc, _ := lookupEncoding(op.str("encoding"))
		data, err := enc.encode(op.str("content"))
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a folder", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, err
		}
		return nil, f.Close()
	},
}

// transferSchema is the inputs of CopyFile, CopyFolder, MoveFile and
// MoveFolder.
var transferSchema = schema{sourceField, destinationField, overwriteField}

// fileTargets expands a file source (wildcards allowed in its last
// segment) and pairs each matching file with its destination. A
// destination ending in "/" is a folder that keeps the source's base
// name; several matches need one.
func fileTargets(env *Env, op values) (pairs [][2]string, overwrite bool, err error) {
	src, dst := env.abs(op.str("source")), op.str("destination")
	overwrite = op.boolean("overwrite", true)
	matches, wildcard, err := expandSource(src)
	if err != nil {
		return nil, false, err
	}
	var files []string
	for _, m := range matches {
		if isDir(m) {
			if !wildcard {
				return nil, false, fmt.Errorf("%s: is a folder (use CopyFolder or MoveFolder)", m)
			}
			continue
		}
		files = append(files, m)
	}
	if len(files) == 0 {
		return nil, false, fmt.Errorf("%s: no files match", src)
	}
	into := endsWithSeparator(dst)
	if len(files) > 1 && !into {
		return nil, false, fmt.Errorf("%s matches %d files: end the destination with / to name a folder", src, len(files))
	}
	dstAbs := env.abs(dst)
	for _, f := range files {
		target := dstAbs
		if into {
			target = filepath.Join(dstAbs, filepath.Base(f))
		}
		pairs = append(pairs, [2]string{f, target})
	}
	return pairs, overwrite, nil
}

// prepareFileTarget checks a file destination and creates its folders.
// An existing folder at the destination is always an error (a trailing
// "/" says "into this folder"); an existing file is one when overwrite
// is false.
func prepareFileTarget(target string, overwrite bool) error {
	if fi, err := os.Lstat(target); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s: is a folder; end the destination with / to put the file into it", target)
		}
		if !overwrite {
			return fmt.Errorf("%s: already exists and overwrite is false", target)
		}
	}
	return os.MkdirAll(filepath.Dir(target), 0o755)
}

var copyFileModule = &batchModule{
	name:   "CopyFile",
	schema: transferSchema,
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		pairs, overwrite, err := fileTargets(env, op)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if err := prepareFileTarget(p[1], overwrite); err != nil {
				return nil, err
			}
			if err := copyFile(p[0], p[1]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	},
}

var moveFile = &batchModule{
	name:   "MoveFile",
	schema: transferSchema,
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		pairs, overwrite, err := fileTargets(env, op)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if err := prepareFileTarget(p[1], overwrite); err != nil {
				return nil, err
			}
			if err := movePath(p[0], p[1]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	},
}

// folderTargets is fileTargets for folders: the folder itself is copied
// or moved to the destination (as that name, or into it with a trailing
// "/").
func folderTargets(env *Env, op values) (pairs [][2]string, overwrite bool, err error) {
	src, dst := env.abs(op.str("source")), op.str("destination")
	overwrite = op.boolean("overwrite", true)
	matches, wildcard, err := expandSource(src)
	if err != nil {
		return nil, false, err
	}
	var dirs []string
	for _, m := range matches {
		if !isDir(m) {
			if !wildcard {
				return nil, false, fmt.Errorf("%s: is not a folder (use CopyFile or MoveFile)", m)
			}
			continue
		}
		dirs = append(dirs, m)
	}
	if len(dirs) == 0 {
		return nil, false, fmt.Errorf("%s: no folders match", src)
	}
	into := endsWithSeparator(dst)
	if len(dirs) > 1 && !into {
		return nil, false, fmt.Errorf("%s matches %d folders: end the destination with / to name a parent folder", src, len(dirs))
	}
	dstAbs := env.abs(dst)
	for _, d := range dirs {
		target := dstAbs
		if into {
			target = filepath.Join(dstAbs, filepath.Base(d))
		}
		if fi, err := os.Lstat(target); err == nil {
			if !fi.IsDir() {
				return nil, false, fmt.Errorf("%s: exists and is not a folder", target)
			}
			if !overwrite {
				return nil, false, fmt.Errorf("%s: already exists and overwrite is false", target)
			}
		}
		pairs = append(pairs, [2]string{d, target})
	}
	return pairs, overwrite, nil
}

// copyFolder merges the source folder into the destination, replacing
// files of the same name; it never deletes what the destination held.
var copyFolder = &batchModule{
	name:   "CopyFolder",
	schema: transferSchema,
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		pairs, _, err := folderTargets(env, op)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if err := os.MkdirAll(filepath.Dir(p[1]), 0o755); err != nil {
				return nil, err
			}
			if err := copyTree(p[0], p[1]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	},
}

var moveFolder = &batchModule{
	name:   "MoveFolder",
	schema: transferSchema,
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		pairs, _, err := folderTargets(env, op)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if within(p[1], p[0]) {
				return nil, fmt.Errorf("cannot move %s into itself (%s)", p[0], p[1])
			}
			if err := os.MkdirAll(filepath.Dir(p[1]), 0o755); err != nil {
				return nil, err
			}
			if err := movePath(p[0], p[1]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	},
}

// applyOwnerAndMode sets the owner, group and permissions inputs of
// CreateFile/CreateFolder on path; absent inputs leave that part alone.
func applyOwnerAndMode(path string, op values) error {
	if op.has("owner") || op.has("group") {
		uid, gid, err := ownership(op.str("owner"), op.str("group"), false)
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return err
		}
	}
	if op.has("permissions") {
		mode, err := parsePermissions(op.str("permissions"))
		if err != nil {
			return err
		}
		// After chown: chown clears setuid/setgid bits.
		return chmod(path, mode)
	}
	return nil
}

// createFile writes content to a file, creating its folders. A new file
// without a permissions input gets 0666 less the umask (AWS's default);
// an explicit permissions input is applied exactly, since an author who
// writes "0640" means 0640.
var createFile = &batchModule{
	name:   "CreateFile",
	schema: schema{pathField, {name: "content", kind: kindString}, encodingField, ownerField, groupField, permissionsField, overwriteField},
	extra: func(op values) []Problem {
		return append(checkEncoding(op, "encoding"), checkPermissions(op, "permissions")...)
	},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		if err := prepareFileTarget(path, op.boolean("overwrite", true)); err != nil {
			return nil, err
		}
		enc, _ := lookupEncoding(op.str("encoding"))
		data, err := enc.encode(op.str("content"))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, data, 0o666); err != nil {
			return nil, err
		}
		return nil, applyOwnerAndMode(path, op)
	},
}

// createFolder creates a folder and its parents. An existing folder is
// kept with its contents (AWS's "truncated or overwritten" wording would
// destroy data; we only re-apply ownership and mode) unless overwrite is
// false, which makes it an error.
var createFolder = &batchModule{
	name:   "CreateFolder",
	schema: schema{pathField, ownerField, groupField, permissionsField, overwriteField},
	extra:  func(op values) []Problem { return checkPermissions(op, "permissions") },
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		if fi, err := os.Lstat(path); err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s: exists and is not a folder", path)
			}
			if !op.boolean("overwrite", true) {
				return nil, fmt.Errorf("%s: already exists and overwrite is false", path)
			}
		}
		if err := os.MkdirAll(path, 0o777); err != nil {
			return nil, err
		}
		return nil, applyOwnerAndMode(path, op)
	},
}

// createSymlink creates path as a link to target. Both are made absolute
// against the working directory, so the link means the same thing
// wherever it is read from. A non-link file at path is never replaced;
// an existing link only with force.
var createSymlink = &batchModule{
	name:   "CreateSymlink",
	schema: schema{pathField, {name: "target", kind: kindString, required: true}, forceField},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path, target := env.abs(op.str("path")), env.abs(op.str("target"))
		if _, err := os.Stat(target); err != nil {
			return nil, fmt.Errorf("target %w", err)
		}
		if fi, err := os.Lstat(path); err == nil {
			if fi.Mode()&fs.ModeSymlink == 0 {
				return nil, fmt.Errorf("%s: exists and is not a symbolic link", path)
			}
			if !op.boolean("force", false) {
				return nil, fmt.Errorf("%s: link already exists and force is false", path)
			}
			if err := os.Remove(path); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		return nil, os.Symlink(target, path)
	},
}

// deleteFile deletes files; a `*` in the last segment deletes every
// matching file (folders among the matches are left alone). A file that
// does not exist is already deleted, so that is success. force is not in
// AWS's docs but AWS's samples pass it; it is accepted and changes
// nothing.
var deleteFile = &batchModule{
	name:   "DeleteFile",
	schema: schema{pathField, forceField},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		matches, wildcard, err := expandSource(env.abs(op.str("path")))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err != nil {
				return nil, err
			}
			if fi.IsDir() {
				if wildcard {
					continue
				}
				return nil, fmt.Errorf("%s: is a folder (use DeleteFolder)", m)
			}
			if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		return nil, nil
	},
}

// deleteFolder deletes a folder: an empty one always, a non-empty one
// only with force. A missing folder is success, like DeleteFile.
var deleteFolder = &batchModule{
	name:   "DeleteFolder",
	schema: schema{pathField, forceField},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: is not a folder", path)
		}
		if op.boolean("force", false) {
			return nil, os.RemoveAll(path)
		}
		if err := os.Remove(path); err != nil {
			if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
				return nil, fmt.Errorf("%s: folder is not empty and force is false", path)
			}
			return nil, err
		}
		return nil, nil
	},
}

// listFiles lists the files (not folders) in a folder whose base names
// match fileNamePattern, as a comma-separated list of absolute paths in
// lexical order: AWS's example output is comma-separated.
var listFiles = &batchModule{
	name:   "ListFiles",
	schema: schema{pathField, {name: "fileNamePattern", kind: kindString}, recursiveField},
	extra: func(op values) []Problem {
		if p := op["fileNamePattern"]; p != nil && !isPlaceholder(p) {
			if _, err := filepath.Match(scalarText(p), ""); err != nil {
				return []Problem{{Path: "fileNamePattern", Message: "is not a valid pattern: " + err.Error()}}
			}
		}
		return nil
	},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		root := env.abs(op.str("path"))
		pattern := op.str("fileNamePattern")
		if pattern == "" {
			pattern = "*"
		}
		if fi, err := os.Stat(root); err != nil {
			return nil, err
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("%s: is not a folder", root)
		}
		recursive := op.boolean("recursive", false)
		var files []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != root && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if ok, _ := filepath.Match(pattern, d.Name()); ok {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		return map[string]string{"files": strings.Join(files, ",")}, nil
	},
}

// readFile returns a text file's content (following symlinks), decoded
// from its encoding; printFileContent also writes it to the step's
// output.
var readFile = &batchModule{
	name:   "ReadFile",
	schema: schema{pathField, encodingField, {name: "printFileContent", kind: kindBool}},
	extra:  func(op values) []Problem { return checkEncoding(op, "encoding") },
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		enc, _ := lookupEncoding(op.str("encoding"))
		text, err := enc.decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if op.boolean("printFileContent", false) && env.Stdout != nil {
			fmt.Fprintln(env.Stdout, text)
		}
		return map[string]string{"content": text}, nil
	},
}

// setFileEncoding converts a UTF-8 file to the given encoding in place,
// keeping its mode. A leading UTF-8 byte order mark is dropped.
var setFileEncoding = &batchModule{
	name:   "SetFileEncoding",
	schema: schema{pathField, encodingField},
	extra:  func(op values) []Problem { return checkEncoding(op, "encoding") },
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a folder", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		text, err := encUTF8.decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		enc, _ := lookupEncoding(op.str("encoding"))
		out, err := enc.encode(text)
		if err != nil {
			return nil, err
		}
		return nil, os.WriteFile(path, out, fi.Mode().Perm())
	},
}

// setFileOwner changes a file's owner (and group: by default the owner's
// primary group). A symlink's target is changed, as chown does.
var setFileOwner = &batchModule{
	name:   "SetFileOwner",
	schema: schema{pathField, {name: "owner", kind: kindString, required: true}, groupField},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a folder (use SetFolderOwner)", path)
		}
		uid, gid, err := ownership(op.str("owner"), op.str("group"), true)
		if err != nil {
			return nil, err
		}
		return nil, os.Chown(path, uid, gid)
	},
}

// setFolderOwner changes a folder's owner, by default recursively.
// Symbolic links inside the tree are changed themselves, never followed,
// so the walk cannot reach outside the folder.
var setFolderOwner = &batchModule{
	name:   "SetFolderOwner",
	schema: schema{pathField, {name: "owner", kind: kindString, required: true}, groupField, recursiveField},
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		if !isDir(path) {
			return nil, folderMissing(path)
		}
		uid, gid, err := ownership(op.str("owner"), op.str("group"), true)
		if err != nil {
			return nil, err
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return nil, err
		}
		if !op.boolean("recursive", true) {
			return nil, nil
		}
		return nil, walkBelow(path, func(p string, _ fs.DirEntry) error { return os.Lchown(p, uid, gid) })
	},
}

var setFilePermissions = &batchModule{
	name:   "SetFilePermissions",
	schema: schema{pathField, {name: "permissions", kind: kindString, required: true}},
	extra:  func(op values) []Problem { return checkPermissions(op, "permissions") },
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a folder (use SetFolderPermissions)", path)
		}
		mode, _ := parsePermissions(op.str("permissions"))
		return nil, chmod(path, mode)
	},
}

// setFolderPermissions sets one mode on a folder and, by default, on
// everything beneath it (chmod -R); symbolic links are skipped since
// chmod would follow them.
var setFolderPermissions = &batchModule{
	name:   "SetFolderPermissions",
	schema: schema{pathField, {name: "permissions", kind: kindString, required: true}, recursiveField},
	extra:  func(op values) []Problem { return checkPermissions(op, "permissions") },
	run: func(_ context.Context, env *Env, op values) (map[string]string, error) {
		path := env.abs(op.str("path"))
		if !isDir(path) {
			return nil, folderMissing(path)
		}
		mode, _ := parsePermissions(op.str("permissions"))
		if op.boolean("recursive", true) {
			err := walkBelow(path, func(p string, d fs.DirEntry) error {
				if d.Type()&fs.ModeSymlink != 0 {
					return nil
				}
				return chmod(p, mode)
			})
			if err != nil {
				return nil, err
			}
		}
		// The folder itself last, so a mode without x on it does not stop
		// the walk from reaching its contents.
		return nil, chmod(path, mode)
	},
}

// walkBelow calls fn for everything beneath root, not root itself.
func walkBelow(root string, fn func(string, fs.DirEntry) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		return fn(p, d)
	})
}

func folderMissing(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return fmt.Errorf("%s: is not a folder", path)
}
