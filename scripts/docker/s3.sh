#!/bin/sh
# SeaweedFS for the compose `s3` service: master, volume, filer and S3 gateway in one process,
# data in the volume, one identity (S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY) and the bucket
# S3_BUCKET created at every start (a no-op once it exists). Ready (healthy) after that.
set -eu
rm -f /tmp/ready
mkdir -p /data
cat >/tmp/s3.json <<JSON
{"identities": [{"name": "app",
  "credentials": [{"accessKey": "$S3_ACCESS_KEY_ID", "secretKey": "$S3_SECRET_ACCESS_KEY"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
JSON
weed server -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.volumeSizeLimitMB=256 \
  -volume.max=0 -s3 -s3.port=8333 -s3.config=/tmp/s3.json &
server=$!
trap 'kill -TERM $server; wait $server' TERM INT
until echo "s3.bucket.create -name $S3_BUCKET" | weed shell -master=127.0.0.1:9333 2>&1 |
  grep -qiE 'created|exist'; do
  kill -0 $server 2>/dev/null || exit 1
  sleep 1
done
touch /tmp/ready
echo "Bucket $S3_BUCKET ready."
wait $server
