"""Reading from AWS with boto3 (the optional extra ``opswarden[aws]``, imported only when used)."""
