# check_seed.py SEED-DIR...: what cloud-init (Debian's cloud-init package) makes
# of a NoCloud seed directory, as JSON: the user-data parts it finds, the
# cloud-config it merges from them, the meta-data and the interfaces
# network-config configures, one JSON object per line and directory (one
# process, as importing cloud-init takes seconds). Used by
# TestSeedWithCloudInit.
import json, sys, tempfile, yaml
from cloudinit import helpers, user_data, handlers
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
from cloudinit.net import network_state

for seed in sys.argv[1:]:
    out = {}
    paths = helpers.Paths({"cloud_dir": tempfile.mkdtemp()})
    msg = user_data.UserDataProcessor(paths).process(open(seed + "/user-data", "rb").read())
    h = CloudConfigPartHandler(paths)
    h.handle_part(None, handlers.CONTENT_START, None, None, None, None)
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ct = part.get_content_type()
        payload = part.get_payload(decode=True).decode()
        parts.append({"type": ct, "payload": payload})
        if ct == "text/cloud-config":
            h.handle_part(None, ct, part.get_filename() or "", payload, None, dict(part.items()))
    out["parts"] = parts
    out["cloud_config"] = h.cloud_buf
    out["meta_data"] = yaml.safe_load(open(seed + "/meta-data"))
    try:
        nc = yaml.safe_load(open(seed + "/network-config"))
        ns = network_state.parse_net_config_data(nc)
        out["interfaces"] = [{"mac": i.get("mac_address"), "subnets": [s.get("type") for s in i.get("subnets", [])]} for i in ns.iter_interfaces()]
    except FileNotFoundError:
        pass
    json.dump(out, sys.stdout, default=str)
    sys.stdout.write("\n")
