// Package oci is the OCI half of kiln's container build engine: it resolves
// parent images in any registry ([Pull]), unpacks their layers once per
// diffID into a cache shared by every build and process ([LayerCache]), in
// overlayfs's native format so the directories serve directly as the
// sandbox's lower layers, turns the overlay's upper directory into a layer
// ([DiffLayer]), and pushes the result to a remote registry ([Push]) or into
// kiln's embedded registry without HTTP ([PushLocal]).
//
// A build therefore runs:
//
//	img, _ := oci.Pull(ctx, parent, opt)
//	lowers, _ := cache.Lowers(ctx, img)
//	sandbox.Run(sandbox.Config{Lower: lowers, Upper: upper, Work: work}, ...)
//	layer, _ := oci.DiffLayer(ctx, upper, tmp)
//	img, _ = mutate.Append(img, mutate.Addendum{Layer: layer, History: ...})
//	digest, _ := oci.PushLocal(ctx, reg, repo, tags, img)
//
// The two directions meet in overlayfs's own conventions: a deleted path is
// a character device 0:0 in a layer directory and a ".wh.<name>" file in a
// layer tarball; a directory that hides everything below it carries the
// trusted.overlay.opaque=y xattr in a directory and a ".wh..wh..opq" entry
// in a tarball. The sandbox mounts its overlay with redirect_dir, metacopy
// and index off, so an upper directory is a plain tree of files, whiteouts
// and opaque directories; DiffLayer refuses uppers that still carry redirect
// or metacopy xattrs rather than produce a wrong layer.
package oci
