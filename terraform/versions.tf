terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # Remote state in S3 with a DynamoDB lock table. The settings are partial on purpose and
  # come from a file per environment:
  #   terraform init -backend-config=backend.hcl      (copy backend.hcl.example)
  # Creating the bucket and the table once is described in docs/deployment.md.
  backend "s3" {}
}
