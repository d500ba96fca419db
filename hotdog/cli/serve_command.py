"""The serve command: a local page (and JSON endpoint) to try a trained model."""
from ..serve import (
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PORT,
    require_web_libraries,
)
from . import options


def cmd_serve(args):
    require_web_libraries()  # before importing them, to say what to install
    from ..serve.server import serve
    try:
        serve(args.model_dir, options.contexts(args), host=args.host, port=args.port,
              max_upload_mb=args.max_upload_mb)
    except KeyboardInterrupt:  # Ctrl+C is how a server is meant to stop
        print("stopped")


def add_commands(sub):
    p = sub.add_parser(
        "serve", help="a page to try a trained model in a browser (and a JSON endpoint)",
        description="Serve a page where you choose, drop or take a photo and see the model's label and every "
                    "class's probability, preprocessed exactly as `hotdog predict` does. Scripts can POST to "
                    "/predict: curl -F image=@photo.jpg http://127.0.0.1:8000/predict. Needs the serve extra: "
                    "pip install 'hotdog-finetune[serve]'.",
        epilog="Nothing is written to disk: uploads are decoded in memory. The server listens on this machine "
               "only unless --host says otherwise.")
    p.add_argument("--model-dir", required=True, metavar="DIR", help="a `hotdog train` output folder")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on; default: %(default)s (this machine only; 0.0.0.0 opens it to "
                        "the network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s; 0 picks a free port")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="N",
                   help="refuse uploads over N megabytes; default: %(default)s")
    options.add_devices(p)
    p.set_defaults(func=cmd_serve)
