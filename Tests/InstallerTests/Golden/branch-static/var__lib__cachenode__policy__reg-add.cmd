@echo off
rem Delivery Optimization: use CacheNode node Seattle-1 as the cache server (run as administrator).
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DOCacheHost /t REG_SZ /d "10.0.0.50" /f
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DODelayCacheServerFallbackForeground /t REG_DWORD /d 60 /f
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DODelayCacheServerFallbackBackground /t REG_DWORD /d 600 /f
