<?php
// php-fpm's answer to POST /v1/apply: the same JSON in, the same out. A C
// pre-fork pool (pm = static) behind nginx, the peer bench/compare.sh
// measures poold against.
$call = json_decode(file_get_contents('php://input'), true);
$funcs = [
    'echo' => fn($x) => $x,
    'pow' => fn($b, $e) => $b ** $e,
];
header('Content-Type: application/json');
if (!is_array($call) || !isset($funcs[$call['func'] ?? null])) {
    http_response_code(400);
    echo json_encode(['title' => 'bad call', 'status' => 400]);
    return;
}
echo json_encode(['result' => $funcs[$call['func']](...($call['args'] ?? []))]);
