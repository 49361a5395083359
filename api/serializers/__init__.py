"""The API's serializers, one module per resource; `api.serializers.X` names every public one."""

from __future__ import annotations

from api.serializers.backtests import (
    BacktestCreateSerializer as BacktestCreateSerializer,
)
from api.serializers.backtests import (
    BacktestQueuedSerializer as BacktestQueuedSerializer,
)
from api.serializers.backtests import (
    BacktestSerializer as BacktestSerializer,
)
from api.serializers.backtests import (
    BacktestSummarySerializer as BacktestSummarySerializer,
)
from api.serializers.backtests import (
    BacktestTradeSerializer as BacktestTradeSerializer,
)
from api.serializers.backtests import (
    SweepCreateSerializer as SweepCreateSerializer,
)
from api.serializers.backtests import (
    SweepQueuedSerializer as SweepQueuedSerializer,
)
from api.serializers.backtests import (
    SweepSerializer as SweepSerializer,
)
from api.serializers.backtests import (
    SweepSummarySerializer as SweepSummarySerializer,
)
from api.serializers.common import (
    FILENAME_PATTERN as FILENAME_PATTERN,
)
from api.serializers.common import (
    ID_MAX as ID_MAX,
)
from api.serializers.common import (
    MAX_FILES as MAX_FILES,
)
from api.serializers.common import (
    EmptySerializer as EmptySerializer,
)
from api.serializers.common import (
    ErrorDetailSerializer as ErrorDetailSerializer,
)
from api.serializers.common import (
    ErrorSerializer as ErrorSerializer,
)
from api.serializers.common import (
    IssueSerializer as IssueSerializer,
)
from api.serializers.common import (
    iso as iso,
)
from api.serializers.executions import (
    ActionSerializer as ActionSerializer,
)
from api.serializers.executions import (
    ExecutionFilterSerializer as ExecutionFilterSerializer,
)
from api.serializers.executions import (
    ExecutionSerializer as ExecutionSerializer,
)
from api.serializers.executions import (
    ExecutionSummarySerializer as ExecutionSummarySerializer,
)
from api.serializers.executions import (
    LogLineSerializer as LogLineSerializer,
)
from api.serializers.files import (
    FileContentSerializer as FileContentSerializer,
)
from api.serializers.files import (
    FileCreateSerializer as FileCreateSerializer,
)
from api.serializers.files import (
    FileIdsField as FileIdsField,
)
from api.serializers.files import (
    FileSerializer as FileSerializer,
)
from api.serializers.files import (
    FilesField as FilesField,
)
from api.serializers.keys import (
    ApiKeySerializer as ApiKeySerializer,
)
from api.serializers.keys import (
    KeyLabelSerializer as KeyLabelSerializer,
)
from api.serializers.keys import (
    ToolsFormatSerializer as ToolsFormatSerializer,
)
from api.serializers.keys import (
    ToolsSerializer as ToolsSerializer,
)
from api.serializers.ledger import (
    BookPerformanceSerializer as BookPerformanceSerializer,
)
from api.serializers.ledger import (
    EquityPointSerializer as EquityPointSerializer,
)
from api.serializers.ledger import (
    FillSerializer as FillSerializer,
)
from api.serializers.ledger import (
    GraduationCheckSerializer as GraduationCheckSerializer,
)
from api.serializers.ledger import (
    GraduationSerializer as GraduationSerializer,
)
from api.serializers.ledger import (
    OrderFilterSerializer as OrderFilterSerializer,
)
from api.serializers.ledger import (
    OrderSerializer as OrderSerializer,
)
from api.serializers.ledger import (
    PerformanceSerializer as PerformanceSerializer,
)
from api.serializers.ledger import (
    PositionFilterSerializer as PositionFilterSerializer,
)
from api.serializers.ledger import (
    PositionSerializer as PositionSerializer,
)
from api.serializers.markets import (
    MarketListSerializer as MarketListSerializer,
)
from api.serializers.markets import (
    MarketSearchSerializer as MarketSearchSerializer,
)
from api.serializers.markets import (
    WalletListSerializer as WalletListSerializer,
)
from api.serializers.markets import (
    WalletSearchSerializer as WalletSearchSerializer,
)
from api.serializers.strategies import (
    STRATEGY_VALUES as STRATEGY_VALUES,
)
from api.serializers.strategies import (
    CloneSerializer as CloneSerializer,
)
from api.serializers.strategies import (
    DeployedStrategySerializer as DeployedStrategySerializer,
)
from api.serializers.strategies import (
    DeployRefusedSerializer as DeployRefusedSerializer,
)
from api.serializers.strategies import (
    DeploySerializer as DeploySerializer,
)
from api.serializers.strategies import (
    PauseSerializer as PauseSerializer,
)
from api.serializers.strategies import (
    RunQueuedSerializer as RunQueuedSerializer,
)
from api.serializers.strategies import (
    SmokeSerializer as SmokeSerializer,
)
from api.serializers.strategies import (
    StrategyFilterSerializer as StrategyFilterSerializer,
)
from api.serializers.strategies import (
    StrategySerializer as StrategySerializer,
)
from api.serializers.strategies import (
    strategy_row as strategy_row,
)
from api.serializers.versions import (
    FileDiffSerializer as FileDiffSerializer,
)
from api.serializers.versions import (
    VersionCreateSerializer as VersionCreateSerializer,
)
from api.serializers.versions import (
    VersionDetailSerializer as VersionDetailSerializer,
)
from api.serializers.versions import (
    VersionDiffSerializer as VersionDiffSerializer,
)
from api.serializers.versions import (
    VersionFileContentSerializer as VersionFileContentSerializer,
)
from api.serializers.versions import (
    VersionFileSerializer as VersionFileSerializer,
)
from api.serializers.versions import (
    VersionSerializer as VersionSerializer,
)
from api.serializers.webhooks import (
    WebhookCreatedSerializer as WebhookCreatedSerializer,
)
from api.serializers.webhooks import (
    WebhookCreateSerializer as WebhookCreateSerializer,
)
from api.serializers.webhooks import (
    WebhookDeliverySerializer as WebhookDeliverySerializer,
)
from api.serializers.webhooks import (
    WebhookSerializer as WebhookSerializer,
)
from api.serializers.webhooks import (
    WebhookUpdateSerializer as WebhookUpdateSerializer,
)
