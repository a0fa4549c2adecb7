#!/usr/bin/env bash
# make deploy BUCKET=my-images [ARTIFACTS=my-artifacts] [STACK=edge-resize] [DRY_RUN=1]
# Packages, lints and deploys infra/template.yaml to us-east-1 (Lambda@Edge's region).
# DRY_RUN=1 does everything that needs no AWS account and prints the AWS commands.
set -euo pipefail
cd "$(dirname "$0")/.."
BUCKET=${BUCKET:-edge-resize-images-example}
STACK=${STACK:-edge-resize}
ARTIFACTS=${ARTIFACTS:-$BUCKET-artifacts}
REGION=us-east-1

BUCKET=$BUCKET scripts/package.sh
scripts/lint-infra.sh

cmds=(
  "aws cloudformation package --region $REGION --template-file infra/template.yaml --s3-bucket $ARTIFACTS --output-template-file dist/packaged.yaml"
  "aws cloudformation deploy --region $REGION --template-file dist/packaged.yaml --stack-name $STACK --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --parameter-overrides BucketName=$BUCKET"
  "aws cloudformation describe-stacks --region $REGION --stack-name $STACK --query Stacks[0].Outputs"
)
if [ -n "${DRY_RUN:-}" ] && [ "${DRY_RUN}" != 0 ]; then
  echo "DRY_RUN: would run:"
  printf '  %s\n' "${cmds[@]}"
  exit 0
fi
command -v aws >/dev/null || { echo "deploy: the AWS CLI is needed (pip install awscli)" >&2; exit 1; }
for c in "${cmds[@]}"; do echo "+ $c"; $c; done
