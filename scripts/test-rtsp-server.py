#!/usr/bin/python3
"""An RTSP camera for tests: GStreamer's RTSP server through PyGObject.

Debian packages: gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-rtsp (.ci/run installs
them). Run it with Debian's interpreter, /usr/bin/python3: the python3 first on PATH may
be a separate build without `gi`.

    test-rtsp-server.py --clip CLIP.mp4 [--port 0] [--mount /cam]
                        [--user NAME --password SECRET]
    test-rtsp-server.py --testsrc [--size 640x480] [--fps 10] ...
    test-rtsp-server.py --check

--clip serves an H.264 MP4 as it is (no re-encoding: cheap); every client gets it from
the start and the stream ends with the clip. --testsrc serves an endless live test
pattern encoded with x264 (for tests that need a stream that does not end).
With --user/--password the mount needs HTTP Basic credentials (others get 401).
--check exits 0 when every GStreamer element both modes need is installed (tests use it
to skip, or fail in CI, with a clear message), else prints what is missing and exits 1.

Once listening it prints one line, `ready rtsp://127.0.0.1:PORT/MOUNT`, on stdout
(--port 0 picks a free port), and it exits on SIGTERM/SIGINT or when its stdin closes,
so a test that dies never leaves it behind. Unknown mounts answer 404.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(args):
    if args.clip:
        # The RECIPES.md pipeline: demux and re-packetise, no decoding.
        location = args.clip.replace("\\", "\\\\").replace('"', '\\"')
        return (
            f'( filesrc location="{location}" ! qtdemux ! h264parse '
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    width, height = args.size.split("x")
    return (
        f"( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={int(width)},height={int(height)},framerate={int(args.fps)}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={int(args.fps)} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


ELEMENTS = ["filesrc", "qtdemux", "h264parse", "rtph264pay", "videotestsrc", "x264enc"]


def check():
    Gst.init(None)
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        print("missing GStreamer elements: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


def main():
    if sys.argv[1:] == ["--check"]:
        return check()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--clip", help="an H.264 MP4 file to serve")
    source.add_argument("--testsrc", action="store_true", help="an endless test pattern")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(False)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print("error: the RTSP server could not listen", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)

    def stdin_event(_fd, _condition):
        # Readable with nothing to read, or hung up: the parent is gone.
        try:
            data = sys.stdin.buffer.read1(4096)
        except OSError:
            data = b""
        if not data:
            loop.quit()
            return False
        return True

    GLib.io_add_watch(
        sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, stdin_event
    )

    print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
